# Sourced by the container scripts: one place for the image names, the cache folder and podman's private config.
# Backend: docker when a Docker engine answers (GitHub runners), podman otherwise (this kind of machine).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# debootstrap and chroot live in /usr/sbin, which a bare PATH (/usr/bin:/bin, as in .ci/run) leaves out.
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin:/sbin" ;; esac
export PATH
CACHE="${CONTAINER_CACHE:-$ROOT/.cache/container}"
BASE_IMAGE="${BASE_IMAGE:-localhost/mlops-template-base:bookworm-py311}"
IMAGE_NAME="${IMAGE_NAME:-mlops-template-service}"
export BENTOML_HOME="${BENTOML_HOME:-$ROOT/.bentoml}"  # as the Makefile (serving block) sets it
if [[ -z "${CONTAINER_BACKEND:-}" ]]; then
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then CONTAINER_BACKEND=docker; else CONTAINER_BACKEND=podman; fi
fi
export CONTAINER_BACKEND
if [[ "$CONTAINER_BACKEND" == podman ]]; then
  # Private podman config (see shared notes): runc (crun fails on hybrid cgroups here), explicit ulimits
  # (podman's defaults need CAP_SYS_RESOURCE), overlay storage in the cache folder.
  mkdir -p "$CACHE/podman"
  export CONTAINERS_CONF="$CACHE/podman/containers.conf"
  export CONTAINERS_STORAGE_CONF="$CACHE/podman/storage.conf"
  nofile="$(ulimit -Hn)"; [[ "$nofile" == unlimited ]] && nofile=1048576
  cat > "$CONTAINERS_CONF" <<CONF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
  cat > "$CONTAINERS_STORAGE_CONF" <<CONF
[storage]
driver = "overlay"
graphroot = "$CACHE/podman/storage"
runroot = "$CACHE/podman/run"
CONF
fi
