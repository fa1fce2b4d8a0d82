"""Run a built image's filesystem the way the kubelet runs the chart's operator container.

There is no kubelet or container runtime here, so this does their part of the job with the host's own
tools: buildah mounts the image's filesystem (with a working container's layer on top, where the mount
points are created as a runtime creates them); unshare gives the process its own mount, PID and UTS
namespaces on the host network; the pod's volumes, the ServiceAccount token and /etc/hosts are
mounted where the kubelet mounts them; the root is remounted read-only when the chart asks for it;
chroot enters the filesystem and setpriv applies the chart's securityContext (uid, gid, fsGroup,
no new privileges, no capabilities). The process sees the image's Env and Entrypoint, the
Deployment's env (downward API resolved) and args, and reaches the API server as a pod does: through
KUBERNETES_SERVICE_HOST/PORT and the projected token, with the operator's in-cluster configuration.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chart_operator import container_env, pod_name, refusals, sa_token

from controlplane import ControlPlane
from harness import OperatorProcess

SERVICE_ACCOUNT_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
KUBELET_FILES = ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf")


def within(root: Path, path: str) -> Path:
    """The container's `path` on the host, its symlinks followed as the container sees them: an absolute
    link (Debian's /var/run -> /run) leads back into `root`, never out onto the host."""
    current, parts, hops = root, [part for part in path.split("/") if part], 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            current = current.parent if current != root else root
            continue
        candidate = current / part
        if not candidate.is_symlink():
            current = candidate
            continue
        hops += 1
        assert hops < 40, f"{path}: too many symlinks"
        target = os.readlink(candidate)
        parts = [part for part in target.split("/") if part] + parts
        if target.startswith("/"):
            current = root
    return current


def buildah(*args: str) -> str:
    result = subprocess.run(["buildah", *args], capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise AssertionError(f"buildah {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout.strip()


@dataclass
class ImageFilesystem:
    """A working container of the image, its filesystem mounted on the host."""

    image: str
    container: str
    root: Path
    config: dict[str, Any]

    @classmethod
    def mount(cls, image: str, name: str) -> ImageFilesystem:
        container = buildah("from", "--pull=never", "--name", name, image)
        root = Path(buildah("mount", container))
        inspected = json.loads(buildah("inspect", "--type", "image", image))
        return cls(image, container, root, inspected["OCIv1"]["config"])

    def remove(self) -> None:
        subprocess.run(["buildah", "umount", self.container], capture_output=True, timeout=120)
        subprocess.run(["buildah", "rm", self.container], capture_output=True, timeout=120)

    def snapshot(self, skip: set[str]) -> dict[str, tuple[int, int, int]]:
        """(mode, size, mtime) of every path but those under `skip` (the mounted volumes)."""
        found: dict[str, tuple[int, int, int]] = {}
        for top, dirs, files in os.walk(self.root):
            inside = "/" if top == str(self.root) else "/" + os.path.relpath(top, self.root)
            dirs[:] = [d for d in dirs if os.path.join(inside, d).replace("//", "/") not in skip]
            for name in [*dirs, *files]:
                stat = os.lstat(os.path.join(top, name))
                found[os.path.join(inside, name)] = (stat.st_mode, stat.st_size, stat.st_mtime_ns)
        return found


@dataclass
class ImagePod(OperatorProcess):
    """One container of `workload` (a Deployment, run as one of its pods, or a Pod) run from `filesystem`."""

    workload: dict[str, Any]
    filesystem: ImageFilesystem
    plane: ControlPlane
    workdir: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)
    name: str = ""
    volumes: dict[str, Path] = field(default_factory=dict)
    """Mount path in the container (symlinks resolved) → the host directory or file behind it."""

    container_name: str = "operator"

    def refusals(self) -> list[str]:
        return refusals(self.output())

    def __post_init__(self) -> None:
        is_pod = self.workload["kind"] == "Pod"
        self.name = self.name or (self.workload["metadata"]["name"] if is_pod else pod_name(self.workload))

    @property
    def namespace(self) -> str:
        return str(self.workload["metadata"]["namespace"])

    @property
    def pod_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.workload["spec"]
        return spec["template"]["spec"] if "template" in spec else spec

    @property
    def container(self) -> dict[str, Any]:
        return next(c for c in self.pod_spec["containers"] if c["name"] == self.container_name)

    def security_context(self) -> dict[str, Any]:
        """The pod's securityContext overlaid with the container's, as the kubelet resolves them."""
        return {**self.pod_spec.get("securityContext", {}), **self.container.get("securityContext", {})}

    def prepare_volumes(self) -> None:
        """The host side of every mount: emptyDirs, ConfigMaps, the ServiceAccount token, kubelet files."""
        spec = self.pod_spec
        volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
        for mount in self.container.get("volumeMounts", []):
            volume, host = volumes[mount["name"]], self.workdir / "volumes" / mount["name"]
            host.mkdir(parents=True)
            if "emptyDir" in volume:
                host.chmod(0o1777)  # the kubelet's emptyDir is world-writable
            elif "configMap" in volume:
                data = json.loads(self.plane.kubectl("get", "configmap", volume["configMap"]["name"], "-n",
                                                     self.namespace, "-o", "json").stdout)["data"]
                for key, value in data.items():
                    (host / key).write_text(value)
            else:
                raise AssertionError(f"volume {mount['name']}: only emptyDir and configMap are run here")
            self.volumes[mount["mountPath"]] = host
        if spec.get("automountServiceAccountToken", True):
            token_dir = self.workdir / "serviceaccount"
            token_dir.mkdir()
            account = spec.get("serviceAccountName", "default")
            (token_dir / "token").write_text(sa_token(self.plane, account, self.namespace))
            shutil.copy(self.plane.ca_file, token_dir / "ca.crt")
            (token_dir / "namespace").write_text(self.namespace)
            self.volumes[SERVICE_ACCOUNT_MOUNT] = token_dir
        hostname = self.workdir / "hostname"
        hostname.write_text(self.name + "\n")
        self.volumes.update({"/etc/hosts": Path("/etc/hosts"), "/etc/resolv.conf": Path("/etc/resolv.conf"),
                             "/etc/hostname": hostname})
        # Mount points, created in the container's own layer as a runtime creates them.
        root, resolved = self.filesystem.root, {}
        for target, source in self.volumes.items():
            inside = within(root, target)
            if source.is_dir():
                inside.mkdir(parents=True, exist_ok=True)
            elif not inside.exists():
                inside.parent.mkdir(parents=True, exist_ok=True)
                inside.touch()
            resolved["/" + str(inside.relative_to(root))] = source
        self.volumes = resolved

    def command(self) -> tuple[list[str], dict[str, str]]:
        if not self.volumes:
            self.prepare_volumes()
        container, config = self.container, self.filesystem.config
        context = self.security_context()
        if context.get("capabilities", {}).get("drop") != ["ALL"] or context.get("capabilities", {}).get("add"):
            raise AssertionError(f"only capabilities {{drop: [ALL]}} are run here, got {context.get('capabilities')}")
        api = urlsplit(self.plane.server)
        env = dict(item.split("=", 1) for item in config.get("Env", []))
        env.update({"HOSTNAME": self.name, "KUBERNETES_SERVICE_HOST": str(api.hostname),
                    "KUBERNETES_SERVICE_PORT": str(api.port)})
        env.update(container_env(container, self.name, self.namespace))
        # The kubelet's rule: command replaces the Entrypoint, args replace the Cmd.
        entrypoint: list[str] = container.get("command") or config.get("Entrypoint") or []
        arguments: list[str] = container["args"] if "args" in container else config.get("Cmd") or []
        argv = [*entrypoint, *arguments]
        groups = sorted({str(context["runAsGroup"]), *([str(context["fsGroup"])] if "fsGroup" in context else [])})
        privileges = ["setpriv", f"--reuid={context['runAsUser']}", f"--regid={context['runAsGroup']}",
                      f"--groups={','.join(groups)}", "--bounding-set=-all", "--inh-caps=-all"]
        if context.get("allowPrivilegeEscalation") is False:
            privileges.append("--no-new-privs")
        root = shlex.quote(str(self.filesystem.root))
        script = ["set -eu", f"hostname {shlex.quote(self.name)}", f"mount --bind {root} {root}",
                  f"mount -t proc -o nosuid,nodev,noexec proc {root}/proc",
                  f"mount -t tmpfs -o nosuid,mode=755 tmpfs {root}/dev"]
        for device in DEVICES:
            script += [f"touch {root}/dev/{device}", f"mount --bind /dev/{device} {root}/dev/{device}"]
        script += [f"ln -s /proc/self/fd {root}/dev/fd"]
        for target, source in self.volumes.items():
            inside = shlex.quote(f"{self.filesystem.root}{target}")
            script.append(f"mount --bind {shlex.quote(str(source))} {inside}")
            if target != "/tmp":  # the emptyDir is the only writable place
                script.append(f"mount -o remount,bind,ro {inside}")
        if context.get("readOnlyRootFilesystem"):
            script.append(f"mount -o remount,bind,ro {root}")
        workdir = config.get("WorkingDir") or "/"
        inner = [*privileges, "--", "env", f"--chdir={workdir}", "--", *argv]
        script.append(f"exec chroot {root} {shlex.join(inner)}")
        return ["unshare", "--mount", "--pid", "--uts", "--fork", "sh", "-c", "\n".join(script)], env

    def written_outside_volumes(self, before: dict[str, tuple[int, int, int]]) -> list[str]:
        after = self.filesystem.snapshot(set(self.volumes))
        return sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))
