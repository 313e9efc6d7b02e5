"""Small programs written against ZooKeeper's own client libraries (Java and C), built at test time."""
