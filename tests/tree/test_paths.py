"""Path validation: the fast check agrees with ZooKeeper's rule stated plainly."""

from hypothesis import given, settings, strategies as st

from coord.tree.paths import _BAD_CHARS, is_valid_path


def plainly_valid(path):
    """PathUtils.validatePath, name by name."""
    if not path or path[0] != "/":
        return False
    if path == "/":
        return True
    if path[-1] == "/" or _BAD_CHARS.search(path):
        return False
    return all(name not in ("", ".", "..") for name in path[1:].split("/"))


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="/.ab\x01\u00e9", max_size=12))
def test_is_valid_path_agrees_with_the_plain_rule(path):
    assert is_valid_path(path) == plainly_valid(path)


def test_examples():
    for good in ("/", "/a", "/a/b", "/.a", "/a./b", "/a/..b", "/zookeeper"):
        assert is_valid_path(good), good
    for bad in ("", "a", "/a/", "//a", "/a//b", "/.", "/..", "/a/./b", "/a/../b", "/a/.", "/\x01"):
        assert not is_valid_path(bad), bad
