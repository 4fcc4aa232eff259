"""The PEP 517 backend of `pip install .`: builds the package's folder with the project's own
CMake (<build>/python/adallava: Python files, the pybind11 module and libadallava beside it) and
zips that folder into a wheel. It needs nothing from an index, so it installs offline."""
import base64
import hashlib
import os
import pathlib
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
NAME = "adallava"


def _version():
    m = re.search(r"project\(adallava VERSION ([0-9.]+)", (ROOT / "CMakeLists.txt").read_text())
    return m.group(1)


def _tag():
    python = "cp" + sysconfig.get_config_var("py_version_nodot")
    platform = re.sub(r"[-.]", "_", sysconfig.get_platform())
    return f"{python}-{python}-{platform}"


def _build_package():
    build = pathlib.Path(os.environ.get("ADALLAVA_BUILD_DIR", ROOT / "build" / "wheel"))
    if not (build / "CMakeCache.txt").exists():
        generator = ["-G", "Ninja"] if shutil.which("ninja") else []
        subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build), *generator, "-DCMAKE_BUILD_TYPE=Release",
                        "-DADALLAVA_TESTS=OFF", f"-DPython_EXECUTABLE={sys.executable}"], check=True,
                       stdout=sys.stderr)
    subprocess.run(["cmake", "--build", str(build), "--target", "adallava_python", "-j", str(os.cpu_count() or 1)],
                   check=True, stdout=sys.stderr)
    return build / "python" / NAME


def _metadata():
    return (f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {_version()}\n"
            "Summary: Adaptive LLaVA (AdaLLaVA) inference on the CPU\nRequires-Python: >=3.10\n"
            "Requires-Dist: numpy\n")


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    package = _build_package()
    version, tag = _version(), _tag()
    info = f"{NAME}-{version}.dist-info"
    files = {f"{NAME}/{p.name}": p.read_bytes() for p in sorted(package.iterdir()) if p.is_file()}
    files[f"{info}/METADATA"] = _metadata().encode()
    files[f"{info}/WHEEL"] = f"Wheel-Version: 1.0\nGenerator: {NAME}_build\nRoot-Is-Purelib: false\nTag: {tag}\n".encode()
    record = [_record_line(n, d) for n, d in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = f"{NAME}-{version}-{tag}.whl"
    with zipfile.ZipFile(pathlib.Path(wheel_directory) / wheel, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            info_ = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info_.external_attr = (0o755 if name.endswith(".so") else 0o644) << 16
            z.writestr(info_, data, zipfile.ZIP_DEFLATED)
    return wheel
