#!/usr/bin/env python3
"""Installed as a Debian daemon is (issue 13): `meson install` into a scratch
root, then what it put there.

- agilityd in sbin, agilityctl in bin, both with --version; the man pages
  agilityd(8), agilityctl(8) and agility.yaml(5) render without warnings; the
  sysusers.d entry for the agility user.
- agilityd.service passes `systemd-analyze verify` (its paths pointed at the
  scratch root, where the binaries are).
- The installed example configuration passes `agilityd --check` and is
  served: agilityd from the scratch root answers from the example's pool.
  Only what the unit provides is pointed elsewhere: the listen port, the
  control socket (RuntimeDirectory), the state directory (StateDirectory)
  and the bpffs pin.
- Logs for the journal (JOURNAL_STREAM set): "<priority>text" lines, and
  --log-level drops those below it.
- systemd's notify protocol (Type=notify): READY=1 only once DNS is answered
  and the control socket is up, RELOADING=1 then READY=1 around a reload,
  STOPPING=1 at the end.

PackageTest (with AGILITY_PACKAGE=1, `meson test package`, plain build only:
it compiles the whole tree again): dpkg-buildpackage builds the .deb, lintian
finds no error in it, and unpacked in a scratch root it creates its user and
serves its example configuration.

Runs in a network namespace of its own (tests/integration/netns_run.sh): the
example configuration steers its pools with sk_lookup.

    tests/integration/netns_run.sh python3 tests/integration/test_install.py -v

AGILITY_BUILD_ROOT names the meson build directory (default build/).
"""
import ipaddress
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import ROOT, servers, wait_for  # noqa: E402

BUILD = os.path.abspath(os.environ.get("AGILITY_BUILD_ROOT", os.path.join(ROOT, "build")))
BPFFS = os.environ.get("AGILITY_BPFFS", "")
PREFIX = "/usr/local"  # meson's default, as configured by scripts/build
POOL4 = ipaddress.ip_network("127.77.0.0/20")


def example_config(test, installed_etc, directory):
    """The installed /etc/agility, copied into `directory`, with what the
    unit provides pointed there too; sets test.port and test.control."""
    etc = os.path.join(directory, "etc-agility")
    shutil.rmtree(etc, ignore_errors=True)
    shutil.copytree(installed_etc, etc)
    path = os.path.join(etc, "agility.yaml")
    with open(path) as f:
        text = f.read()
    test.port = servers.free_port()
    test.control = os.path.join(directory, "control.sock")
    for key, value in [("listen", f'["127.0.0.1:{test.port}"]'),
                       ("control", test.control),
                       ("state_dir", os.path.join(directory, "state")),
                       ("pin", os.path.join(BPFFS, os.path.basename(directory)))]:
        text, count = re.subn(rf"^(\s*{key}:) [^#\n]*", rf"\g<1> {value} ", text, flags=re.M)
        test.assertEqual(count, 1, f"{key} in the installed example")
    with open(path, "w") as f:
        f.write(text)
    return path


def assert_serves_example(test, agilityd, config, directory):
    """`agilityd --check` passes on the example `config`, then agilityd
    serves it (answers from its pool) and stops cleanly."""
    done = subprocess.run([agilityd, "-c", config, "--check"], capture_output=True, text=True)
    test.assertEqual(done.returncode, 0, done.stdout + done.stderr)
    log_path = os.path.join(directory, "agilityd.log")
    with open(log_path, "w") as log:
        process = subprocess.Popen([agilityd, "-c", config], stdout=log, stderr=log)
    try:
        answers = wait_for(lambda: servers.a_records(test.port, "www.example.com"), "an answer")
        test.assertTrue(all(ipaddress.ip_address(a) in POOL4 for a in answers), answers)
    finally:
        process.terminate()
        with open(log_path) as log:
            test.assertEqual(process.wait(timeout=20), 0, log.read())


class InstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not BPFFS or os.environ.get("AGILITY_NETNS") != "1":
            raise RuntimeError("run through tests/integration/netns_run.sh: the installed "
                               "example steers with sk_lookup")
        cls.tmp = tempfile.TemporaryDirectory(prefix="agility-install-")
        cls.dest = os.path.join(cls.tmp.name, "root")
        done = subprocess.run(["meson", "install", "-C", BUILD, "--no-rebuild", "--destdir",
                               cls.dest], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"meson install failed:\n{done.stdout}{done.stderr}")
        cls.agilityd = cls.installed("sbin/agilityd")
        cls.agilityctl = cls.installed("bin/agilityctl")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    @classmethod
    def installed(cls, path):
        return os.path.join(cls.dest, PREFIX.lstrip("/"), path)

    def example_config(self):
        return example_config(self, self.installed("etc/agility"), self.tmp.name)

    def start(self, config, *args, journal=False, **env):
        """agilityd from the scratch root, its log in the test's directory;
        with `journal`, as systemd names that file when it is the journal's
        stream (JOURNAL_STREAM: device and inode of stderr)."""
        with open(os.path.join(self.tmp.name, "agilityd.log"), "w") as log:
            if journal:
                st = os.fstat(log.fileno())
                env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
            return subprocess.Popen([self.agilityd, "-c", config, *args], stdout=log, stderr=log,
                                    env={**os.environ, **env})

    def log(self):
        with open(os.path.join(self.tmp.name, "agilityd.log")) as f:
            return f.read()

    def test_binaries_and_man_pages(self):
        for binary in (self.agilityd, self.agilityctl):
            done = subprocess.run([binary, "--version"], capture_output=True, text=True)
            self.assertEqual(done.returncode, 0, done.stderr)
            self.assertRegex(done.stdout, r"^agility\w* \d+\.\d+\.\d+")
        for page in ("man8/agilityd.8", "man8/agilityctl.8", "man5/agility.yaml.5"):
            path = self.installed(f"share/man/{page}")
            done = subprocess.run(["groff", "-man", "-ww", "-z", path], capture_output=True,
                                  text=True)
            self.assertEqual((done.returncode, done.stderr), (0, ""), page)
            rendered = subprocess.run(["man", "-l", path], capture_output=True, text=True,
                                      env={**os.environ, "MANPAGER": "cat", "MANWIDTH": "80"})
            self.assertIn("SEE ALSO", rendered.stdout, page)
        with open(self.installed("lib/sysusers.d/agility.conf")) as f:
            self.assertRegex(f.read(), r"(?m)^u agility - ")

    def test_the_unit_verifies(self):
        with open(self.installed("lib/systemd/system/agilityd.service")) as f:
            unit = f.read()
        self.assertIn("Type=notify", unit)
        self.assertIn(f"ExecStart={PREFIX}/sbin/agilityd -c {PREFIX}/etc/agility/agility.yaml",
                      unit)
        # Its commands, where they are in the scratch root.
        local = os.path.join(self.tmp.name, "agilityd.service")
        with open(local, "w") as f:
            f.write(unit.replace(f"{PREFIX}/", os.path.join(self.dest, PREFIX.lstrip("/")) + "/"))
        done = subprocess.run(["systemd-analyze", "verify", "--man=no", local],
                              capture_output=True, text=True)
        self.assertEqual((done.returncode, done.stdout + done.stderr), (0, ""))

    def test_the_installed_example_is_served(self):
        assert_serves_example(self, self.agilityd, self.example_config(), self.tmp.name)

    def test_logs_for_the_journal_by_level(self):
        config = self.example_config()
        for level, expect_info in (("info", True), ("warning", False)):
            with self.subTest(level=level):
                process = self.start(config, "--log-level", level, journal=True)
                try:
                    wait_for(lambda: servers.a_records(self.port, "www.example.com"), "an answer")
                    wait_for(lambda: os.path.exists(self.control), "the control socket")
                finally:
                    process.terminate()
                    self.assertEqual(process.wait(timeout=20), 0, self.log())
                lines = self.log().splitlines()
                # journald's form: "<priority>text", no timestamp of ours.
                self.assertTrue(all(re.match(r"<[0-7]>", line) for line in lines), lines)
                self.assertEqual(f"<6>control socket {self.control}" in lines, expect_info,
                                 lines)
                if not expect_info:
                    self.assertTrue(all(int(line[1]) <= 4 for line in lines), lines)
        # A JOURNAL_STREAM that is not stderr (inherited by a child): lines
        # with a timestamp.
        process = self.start(config, JOURNAL_STREAM="8:1234")
        try:
            wait_for(lambda: os.path.exists(self.control), "the control socket")
        finally:
            process.terminate()
            self.assertEqual(process.wait(timeout=20), 0, self.log())
        self.assertRegex(self.log(), r"^\d{4}-\d\d-\d\dT[\d:.]+Z agilityd: ")
        done = subprocess.run([self.agilityd, "--log-level", "chatty", "-c", config],
                              capture_output=True, text=True)
        self.assertEqual(done.returncode, 2)
        self.assertIn("--log-level chatty: error, warning, info or debug", done.stderr)

    def test_systemd_is_told_when_it_is_ready(self):
        config = self.example_config()
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify_path = os.path.join(self.tmp.name, "notify.sock")
        notify.bind(notify_path)
        notify.settimeout(20)
        process = self.start(config, NOTIFY_SOCKET=notify_path)
        try:
            ready = notify.recv(4096).decode()
            self.assertIn("READY=1", ready)
            # Told only once serving: DNS and the control socket answer now.
            self.assertTrue(servers.a_records(self.port, "www.example.com"))
            self.assertTrue(os.path.exists(self.control))
            done = subprocess.run([self.agilityctl, "-s", self.control, "reload"],
                                  capture_output=True, text=True)
            self.assertEqual(done.returncode, 0, done.stderr)
            self.assertIn("RELOADING=1", notify.recv(4096).decode())
            self.assertIn("READY=1", notify.recv(4096).decode())
            process.terminate()
            self.assertIn("STOPPING=1", notify.recv(4096).decode())
        finally:
            if process.poll() is None:
                process.terminate()
            self.assertEqual(process.wait(timeout=20), 0, self.log())
            notify.close()


@unittest.skipUnless(os.environ.get("AGILITY_PACKAGE") == "1",
                     "the package is built by `meson test package` (plain build only)")
class PackageTest(unittest.TestCase):
    """dpkg-buildpackage builds agility_*.deb from the tracked tree; lintian
    finds no error in it; unpacked in a scratch root, its agility user is
    created by systemd-sysusers and its example configuration is served."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="agility-package-")
        source = os.path.join(cls.tmp.name, "agility")
        os.makedirs(source)
        files = subprocess.run(["git", "-C", ROOT, "ls-files", "-z"], capture_output=True,
                               check=True).stdout
        subprocess.run(f"tar --null -T - -cf - | tar -C {source} -xf -", shell=True, cwd=ROOT,
                       input=files, check=True)
        cls.build = subprocess.run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=source,
                                   capture_output=True, text=True, timeout=1800)
        debs = [f for f in os.listdir(cls.tmp.name) if re.fullmatch(r"agility_[^_]+_\w+\.deb", f)]
        cls.deb = os.path.join(cls.tmp.name, debs[0]) if len(debs) == 1 else None

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def setUp(self):
        self.assertEqual(self.build.returncode, 0, self.build.stdout[-3000:] + self.build.stderr)
        self.assertIsNotNone(self.deb, os.listdir(self.tmp.name))

    def test_lintian_finds_no_error(self):
        done = subprocess.run(["lintian", "--no-tag-display-limit", self.deb],
                              capture_output=True, text=True)
        errors = [line for line in done.stdout.splitlines() if line.startswith("E:")]
        self.assertEqual(errors, [], done.stdout)

    def test_unpacked_it_is_served(self):
        root = os.path.join(self.tmp.name, "root")
        subprocess.run(["dpkg", "-x", self.deb, root], check=True)
        for path in ("usr/sbin/agilityd", "usr/bin/agilityctl", "lib/systemd/system/agilityd.service",
                     "usr/share/man/man8/agilityd.8.gz", "usr/share/man/man5/agility.yaml.5.gz",
                     "etc/agility/agility.yaml", "etc/agility/zones/example.com.zone"):
            self.assertTrue(os.path.exists(os.path.join(root, path)), path)
        # The postinst creates the user with systemd-sysusers: so does this.
        control = os.path.join(self.tmp.name, "control")
        subprocess.run(["dpkg-deb", "-e", self.deb, control], check=True)
        with open(os.path.join(control, "postinst")) as f:
            self.assertIn("systemd-sysusers", f.read())
        with open(os.path.join(control, "conffiles")) as f:
            self.assertIn("/etc/agility/agility.yaml", f.read())
        os.makedirs(os.path.join(root, "etc"), exist_ok=True)
        done = subprocess.run(["systemd-sysusers", f"--root={root}",
                               os.path.join(root, "usr/lib/sysusers.d/agility.conf")],
                              capture_output=True, text=True)
        self.assertEqual(done.returncode, 0, done.stderr)
        with open(os.path.join(root, "etc/passwd")) as f:
            self.assertRegex(f.read(), r"(?m)^agility:x:\d+:\d+:")
        config = example_config(self, os.path.join(root, "etc/agility"), self.tmp.name)
        assert_serves_example(self, os.path.join(root, "usr/sbin/agilityd"), config, self.tmp.name)


if __name__ == "__main__":
    unittest.main()
