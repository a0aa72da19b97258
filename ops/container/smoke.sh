#!/usr/bin/env bash
# Builds the image from ops/container/Containerfile and smoke-tests it: the
# demo in the container answers /healthz, drafts appear, the service runs as
# the unprivileged user, and the image's own health check passes.
#
#   ops/container/smoke.sh [HROBOT_BINARY]
#
# Needs a container engine that can run here (podman or docker). Without one
# it says so and exits 0 (CI prints the reason). Where the base images cannot
# be pulled (a closed network), the Debian base is made with debootstrap from
# the Debian mirror and cached under target/container/; the hrobot binary is
# the one given (default target/release/hrobot, else target/debug/hrobot),
# built from this very tree, instead of compiling in the Rust image.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
cache=$root/target/container
mkdir -p "$cache"

engine=""
for e in podman docker; do
  if command -v "$e" >/dev/null 2>&1 && "$e" info >/dev/null 2>&1; then engine=$e; break; fi
done
if [ -z "$engine" ]; then
  echo "container smoke test skipped: no container engine runs on this machine (podman/docker info failed)"
  exit 0
fi
echo "engine: $engine"

bin=${1:-}
if [ -z "$bin" ]; then
  for b in target/release/hrobot target/debug/hrobot; do
    if [ -x "$b" ]; then bin=$b; break; fi
  done
fi
[ -x "$bin" ] || { echo "no hrobot binary (build it first)"; exit 1; }
echo "binary: $bin"

base=localhost/hrobot-base:bookworm-slim
if ! "$engine" image exists "$base" 2>/dev/null && ! "$engine" image inspect "$base" >/dev/null 2>&1; then
  if timeout 60 "$engine" pull docker.io/library/debian:bookworm-slim >/dev/null 2>&1; then
    "$engine" tag docker.io/library/debian:bookworm-slim "$base"
  else
    tarball=$cache/debian-bookworm-minbase.tar
    if [ ! -s "$tarball" ]; then
      command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y debootstrap >/dev/null
      rootfs=$(mktemp -d)
      echo "making the Debian base with debootstrap (the registry cannot be reached)"
      debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >"$cache/debootstrap.log" 2>&1 \
        || { tail -20 "$cache/debootstrap.log"; exit 1; }
      rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
      tar -C "$rootfs" -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
      rm -rf "$rootfs"
    fi
    "$engine" import "$tarball" "$base" >/dev/null
  fi
fi

# Some sandboxes refuse the engine's defaults (crun on hybrid cgroups, raising
# rlimits past the host's): fall back to runc with limits the host allows.
engine_flags=()
if ! "$engine" run --rm --network host "$base" true >"$cache/probe.log" 2>&1; then
  if [ "$engine" = podman ]; then
    command -v runc >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y runc >/dev/null 2>&1 || true
    engine_flags=(--runtime runc --ulimit nofile=20000:20000 --ulimit nproc=4096:4096)
  fi
  if ! "$engine" run "${engine_flags[@]}" --rm --network host "$base" true >>"$cache/probe.log" 2>&1; then
    echo "container smoke test skipped: $engine is installed but cannot run a container on this machine:"
    sed 's/^/  /' "$cache/probe.log" | tail -5
    exit 0
  fi
  echo "engine flags: ${engine_flags[*]}"
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"; "$engine" rm -f hrobot-smoke hrobot-smoke-node >/dev/null 2>&1 || true' EXIT
install -m 0755 "$bin" "$ctx/hrobot"
printf 'FROM scratch\nCOPY hrobot /hrobot\n' > "$ctx/Containerfile"
"$engine" build -q -f "$ctx/Containerfile" -t localhost/hrobot-binary:smoke "$ctx" >/dev/null

started=$(date +%s)
build_args=("${engine_flags[@]}" --build-arg "RUNTIME_BASE=$base" --build-arg BINARY_FROM=localhost/hrobot-binary:smoke)
[ "$engine" = podman ] && build_args+=(--format docker --network host)
"$engine" build "${build_args[@]}" -f ops/container/Containerfile -t localhost/hrobot:smoke . >"$cache/build.log" 2>&1 \
  || { tail -30 "$cache/build.log"; exit 1; }
echo "image built in $(( $(date +%s) - started )) s: $("$engine" image inspect localhost/hrobot:smoke --format '{{.Size}}') bytes"

port=${HROBOT_SMOKE_PORT:-18480}
"$engine" rm -f hrobot-smoke >/dev/null 2>&1 || true
"$engine" run "${engine_flags[@]}" -d --name hrobot-smoke --network host -e HROBOT_HEALTH_PORT="$port" \
  localhost/hrobot:smoke demo --data-dir /var/lib/hrobot/demo --port "$port" >"$cache/run.log" 2>&1 \
  || { cat "$cache/run.log"; exit 1; }

ok=""
for _ in $(seq 1 60); do
  if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then ok=1; break; fi
  sleep 1
done
[ -n "$ok" ] || { "$engine" logs hrobot-smoke | tail -30; echo "FAIL: /healthz did not answer"; exit 1; }
echo "ok: /healthz answers on port $port"

drafts=0
for _ in $(seq 1 60); do
  drafts=$("$engine" exec hrobot-smoke hrobot --data-dir /var/lib/hrobot/demo cases list --state awaiting_approval --format json 2>/dev/null | grep -c '"id"' || true)
  [ "$drafts" -gt 0 ] && break
  sleep 1
done
[ "$drafts" -gt 0 ] || { "$engine" logs hrobot-smoke | tail -30; echo "FAIL: no draft appeared"; exit 1; }
echo "ok: $drafts drafts in the container's case store"

uid=$("$engine" exec hrobot-smoke id -u)
[ "$uid" = 10001 ] || { echo "FAIL: the service runs as uid $uid, not 10001"; exit 1; }
echo "ok: runs as uid $uid (hrobot)"

mode=$("$engine" exec hrobot-smoke stat -c %a /var/lib/hrobot/demo)
[ "$mode" = 700 ] || { echo "FAIL: the data directory is mode $mode"; exit 1; }
echo "ok: data directory mode $mode"

if [ "$engine" = podman ]; then
  # (podman runs health checks from systemd timers; without systemd, run it once by hand)
  health=$("$engine" healthcheck run hrobot-smoke 2>&1) || { echo "FAIL: the image's HEALTHCHECK: $health"; exit 1; }
  echo "ok: the image's HEALTHCHECK passes"
fi
"$engine" rm -f hrobot-smoke >/dev/null 2>&1 || true

# The compose node's way (compose.yaml) on this machine's PostgreSQL: the
# one-shot key step, then `hrobot serve` with ops/container/hrobot.toml.
if command -v psql >/dev/null && pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  db=hrobot_container_smoke
  psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
  for v in hrobot-smoke-keys hrobot-smoke-data hrobot-smoke-witness; do "$engine" volume rm -f "$v" >/dev/null 2>&1 || true; done
  "$engine" run "${engine_flags[@]}" --rm -v hrobot-smoke-keys:/etc/hrobot/keys --entrypoint /bin/sh localhost/hrobot:smoke -c \
    'umask 077; hrobot audit keygen --origin hrobot.exempelkommun.se/audit --out /etc/hrobot/keys/audit-signing.key >/dev/null;
     hrobot audit master-keygen --out /etc/hrobot/keys/master.key >/dev/null; stat -c "%a %U" /etc/hrobot/keys/master.key' \
    >"$cache/keys.log" 2>&1 || { cat "$cache/keys.log"; exit 1; }
  grep -q '^600 hrobot$' "$cache/keys.log" || { cat "$cache/keys.log"; echo "FAIL: key files are not 0600 hrobot"; exit 1; }
  "$engine" rm -f hrobot-smoke-node >/dev/null 2>&1 || true
  "$engine" run "${engine_flags[@]}" -d --name hrobot-smoke-node --network host \
    -v hrobot-smoke-keys:/etc/hrobot/keys:ro -v hrobot-smoke-data:/var/lib/hrobot -v hrobot-smoke-witness:/var/lib/hrobot-witness \
    -v "$root/ops/container/hrobot.toml:/etc/hrobot/hrobot.toml:ro" \
    -e HROBOT_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db" \
    -e HROBOT_HTTP_LISTEN="127.0.0.1:$((port + 1))" -e HROBOT_HEALTH_PORT="$((port + 1))" \
    localhost/hrobot:smoke >"$cache/node.log" 2>&1 || { cat "$cache/node.log"; exit 1; }
  ready=""
  for _ in $(seq 1 60); do
    if [ "$(curl -fsS "http://127.0.0.1:$((port + 1))/readyz" 2>/dev/null)" = ready ]; then ready=1; break; fi
    sleep 1
  done
  [ -n "$ready" ] || { "$engine" logs hrobot-smoke-node | tail -20; echo "FAIL: the PostgreSQL node is not ready"; exit 1; }
  "$engine" exec hrobot-smoke-node hrobot --config /etc/hrobot/hrobot.toml config check >"$cache/check.log" 2>&1 \
    || { cat "$cache/check.log"; echo "FAIL: config check in the container"; exit 1; }
  echo "ok: the compose node's configuration serves on PostgreSQL (/readyz ready, config check ok)"
  "$engine" rm -f hrobot-smoke-node >/dev/null 2>&1 || true
  for v in hrobot-smoke-keys hrobot-smoke-data hrobot-smoke-witness; do "$engine" volume rm -f "$v" >/dev/null 2>&1 || true; done
  psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
else
  echo "the compose node's check skipped: no PostgreSQL on 127.0.0.1:5432"
fi
echo "container smoke test passed"
