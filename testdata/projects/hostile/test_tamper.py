# A test suite that tries to modify the checkout it runs in: every change must happen in the sandbox's
# copy-on-write view (and be seen there), none in the directory `kiln test` was given.
import os
import shutil
import stat

HERE = os.path.dirname(os.path.abspath(__file__))


def test_overwrite_append_and_truncate():
    with open(os.path.join(HERE, "data.txt"), "w") as f:
        f.write("tampered\n")
    with open(os.path.join(HERE, "data.txt")) as f:
        assert f.read() == "tampered\n"


def test_delete_rename_and_create():
    os.remove(os.path.join(HERE, "keep.txt"))
    assert not os.path.exists(os.path.join(HERE, "keep.txt"))
    os.rename(os.path.join(HERE, "conftest.py"), os.path.join(HERE, "renamed.py"))
    os.makedirs(os.path.join(HERE, "new_dir/sub"))
    with open(os.path.join(HERE, "new_dir/sub/planted.txt"), "w") as f:
        f.write("planted")


def test_chmod_and_remove_the_tree():
    os.chmod(os.path.join(HERE, "data.txt"), 0o777)
    assert stat.S_IMODE(os.stat(os.path.join(HERE, "data.txt")).st_mode) == 0o777
    os.chmod(HERE, 0o777)
    shutil.rmtree(os.path.join(HERE, "new_dir"))
    for name in os.listdir(HERE):
        path = os.path.join(HERE, name)
        if os.path.isfile(path) and name != "test_tamper.py":
            os.remove(path)
    left = os.listdir(HERE)
    assert "data.txt" not in left and "renamed.py" not in left and "test_tamper.py" in left
