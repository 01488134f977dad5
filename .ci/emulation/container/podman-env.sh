# The test harness's CONTAINER_ENV_HOOK (exported by .ci/emulation/harness.mk), sourced by scripts/container/env.sh.
# For machines like the one this template is tested on (root without CAP_SYS_RESOURCE, hybrid cgroups, no
# Docker engine, no registry to pull from; see the shared container notes):
# - a private podman config: runc (crun fails on hybrid cgroups here), explicit ulimits (podman's defaults
#   need CAP_SYS_RESOURCE), overlay storage in the cache folder;
# - BASE_IMAGE: the local debootstrap base image made by base-image.sh (`make container-tools`);
# - /usr/sbin on PATH: debootstrap and chroot live there, and a bare PATH (/usr/bin:/bin, as in .ci/run)
#   leaves it out.
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin:/sbin" ;; esac
export PATH
if [[ "$CONTAINER_BACKEND" == podman ]]; then
  export BASE_IMAGE="${BASE_IMAGE:-localhost/mlops-template-base:bookworm-py311}"
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
