"""Pure authentication pieces: DIGEST-MD5 (SASL), JAAS files, X.500 names of certificates."""
