#!/bin/sh
# Installs (or upgrades) the Outpost edge agent on a Debian-like device: the bundled agent, a wrapper on PATH, the
# `outpost-modules` user process modules run as, the state and config dirs, a systemd unit, and the device's
# enrolment. Needs Node >= 20.19 on the device; downloads nothing. Re-running upgrades the bundle and keeps state.
# See docs/install-device.md.
set -eu

usage() {
  cat <<'EOF'
Usage: install.sh --bundle <outpost-agent.mjs> [--nats <url>] [--token-file <file>] [--device-id <id>] [options]

Installs the Outpost agent (run as root). Re-running upgrades the bundle and keeps the device's state.

  --bundle <file>      the bundled agent (default: outpost-agent.mjs next to this script)
  --nats <url>         the cloud NATS URL (tls://host:port) to enrol with
  --token-file <file>  a file holding the enrolment token (read from the file: a token on a command line shows in ps)
  --device-id <id>     the device id; needed with an enrolment-group token, optional with a device token
  --root <dir>         install under <dir> instead of / (image building, tests): systemd is left alone
  --no-users           do not create the outpost-modules user
  --no-enroll          install only; enrol later with `outpost-agent enroll`
  --no-start           do not enable or (re)start the systemd unit
  --uninstall          stop and remove the agent, its wrapper and unit; keeps /var/lib/outpost and /etc/outpost
  -h, --help           show this help
EOF
}

die() {
  echo "install.sh: $*" >&2
  exit 1
}
say() { echo "outpost: $*"; }
warn() { echo "outpost: warning: $*" >&2; }

script_dir=$(cd "$(dirname "$0")" && pwd)
bundle="$script_dir/outpost-agent.mjs"
bundle_given=0
nats_url=""
token_file=""
device_id=""
root=""
create_users=1
enroll=1
start=1
uninstall=0

while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) [ $# -ge 2 ] || die "--bundle needs a file"; bundle=$2; bundle_given=1; shift 2 ;;
    --nats) [ $# -ge 2 ] || die "--nats needs a URL"; nats_url=$2; shift 2 ;;
    --token-file) [ $# -ge 2 ] || die "--token-file needs a file"; token_file=$2; shift 2 ;;
    --device-id) [ $# -ge 2 ] || die "--device-id needs an id"; device_id=$2; shift 2 ;;
    --root | --prefix) [ $# -ge 2 ] || die "$1 needs a directory"; root=$2; shift 2 ;;
    --no-users) create_users=0; shift ;;
    --no-enroll) enroll=0; shift ;;
    --no-start) start=0; shift ;;
    --uninstall) uninstall=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

if [ -n "$root" ]; then
  mkdir -p "$root"
  root=$(cd "$root" && pwd)
  [ "$root" != "/" ] || root=""
fi

# Where things live on the device; $root prefixes them when installing into a directory tree.
LIB_DIR=/usr/local/lib/outpost
AGENT=$LIB_DIR/outpost-agent.mjs
WRAPPER=/usr/local/bin/outpost-agent
CONFIG_DIR=/etc/outpost
CONFIG=$CONFIG_DIR/agent.json
STATE_DIR=/var/lib/outpost
UNIT=/etc/systemd/system/outpost-agent.service
MODULE_USER=outpost-modules

# systemd is driven only on the live system (not under --root) and only when it is the running init.
systemd_live=0
if [ -z "$root" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then systemd_live=1; fi

if [ "$uninstall" = 1 ]; then
  if [ "$systemd_live" = 1 ]; then
    systemctl disable --now outpost-agent.service 2>/dev/null || true
  fi
  rm -f "$root$UNIT" "$root$WRAPPER" "$root$AGENT"
  rmdir "$root$LIB_DIR" 2>/dev/null || true
  [ "$systemd_live" = 1 ] && systemctl daemon-reload
  say "removed the agent, $WRAPPER and the unit; kept $STATE_DIR (credentials, deployments, modules) and $CONFIG_DIR"
  say "modules still running keep running: stop them with 'pkill -u $MODULE_USER' before removing $STATE_DIR"
  exit 0
fi

# --- checks ---------------------------------------------------------------------------------------------------------
[ -f "$bundle" ] || {
  [ "$bundle_given" = 1 ] && die "--bundle $bundle: no such file"
  die "--bundle <outpost-agent.mjs> is required (no bundle next to this script)"
}
head -n 1 "$bundle" | grep -q '^#!/usr/bin/env node' || die "--bundle $bundle is not the bundled agent (no node shebang)"
if [ -z "$root" ] && [ "$(id -u)" != 0 ]; then
  die "run as root (the agent runs as root so it can run modules as $MODULE_USER), or use --root <dir>"
fi
command -v node >/dev/null 2>&1 || die "Node.js is not installed: install Node >= 20.19 (e.g. from NodeSource or Debian's nodejs)"
node -e '
  const [major, minor] = process.versions.node.split(".").map(Number);
  process.exit(major > 20 || (major === 20 && minor >= 19) ? 0 : 1);
' || die "Node $(node --version) is too old: the agent needs Node >= 20.19"
command -v nats-server >/dev/null 2>&1 ||
  warn "nats-server is not installed: the agent runs without it; the device hub needs it (apt-get install nats-server)"
if [ "$enroll" = 1 ] && [ -n "$token_file" ]; then
  [ -r "$token_file" ] || die "--token-file $token_file: cannot read it"
  [ -n "$nats_url" ] || die "--token-file needs --nats <url> (the cloud NATS to enrol with)"
fi

# --- files ----------------------------------------------------------------------------------------------------------
install -d -m 0755 "$root$LIB_DIR" "$root/usr/local/bin" "$root/etc/systemd/system"
install -d -m 0755 "$root$CONFIG_DIR"
# 0711: process modules (another user) can reach their own files under modules/ but cannot list the agent's state.
install -d -m 0711 "$root$STATE_DIR"
chmod 0711 "$root$STATE_DIR"

# Replace the bundle in one rename so a running agent or a power cut never sees half a file.
upgraded=0
if [ -f "$root$AGENT" ] && ! cmp -s "$bundle" "$root$AGENT"; then upgraded=1; fi
cp "$bundle" "$root$AGENT.new"
chmod 0755 "$root$AGENT.new"
mv -f "$root$AGENT.new" "$root$AGENT"
version=$(node "$root$AGENT" --version) || die "the installed bundle does not run: node $root$AGENT --version failed"

cat >"$root$WRAPPER.new" <<EOF
#!/bin/sh
# Installed by Outpost's install.sh: the bundled agent, run with the system's Node.
exec node $AGENT "\$@"
EOF
chmod 0755 "$root$WRAPPER.new"
mv -f "$root$WRAPPER.new" "$root$WRAPPER"

unit_before=""
[ -f "$root$UNIT" ] && unit_before=$(cat "$root$UNIT")
cat >"$root$UNIT.new" <<EOF
[Unit]
Description=Outpost edge agent
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart=$WRAPPER run --config $CONFIG
# Always come back, also after a clean exit: the device has no one to start it by hand.
Restart=always
RestartSec=5
# Stop only the agent: process modules keep running across agent restarts and upgrades, and the next agent adopts
# them (docs/install-device.md). Without this, systemd would kill every module with the agent.
KillMode=process
# Root, so it can run process modules as $MODULE_USER and keep its credential unreadable to them.
User=root
UMask=0077
Environment=NODE_ENV=production

[Install]
WantedBy=multi-user.target
EOF
chmod 0644 "$root$UNIT.new"
mv -f "$root$UNIT.new" "$root$UNIT"
unit_changed=0
[ "$unit_before" = "$(cat "$root$UNIT")" ] || unit_changed=1

# --- the modules' user ----------------------------------------------------------------------------------------------
if [ "$create_users" = 1 ]; then
  root_opt=""
  [ -n "$root" ] && root_opt="--root $root"
  if [ -n "$root" ] && [ ! -f "$root/etc/passwd" ]; then
    say "skipping the $MODULE_USER user: $root has no etc/passwd"
  elif grep -q "^$MODULE_USER:" "$root/etc/passwd" 2>/dev/null; then
    say "user $MODULE_USER exists"
  else
    command -v useradd >/dev/null 2>&1 || die "useradd not found: create a system user $MODULE_USER by hand, or pass --no-users"
    # shellcheck disable=SC2086 # root_opt is either empty or two words
    useradd $root_opt --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
      --comment "Outpost process modules" "$MODULE_USER"
    say "created system user $MODULE_USER (no login, no home)"
  fi
fi

# --- enrolment ------------------------------------------------------------------------------------------------------
enrolled=0
if [ -f "$root$STATE_DIR/enrollment.json" ] || [ -f "$root$STATE_DIR/device.creds" ]; then
  enrolled=1
  say "already enrolled ($STATE_DIR/enrollment.json): keeping the device's identity and state"
elif [ "$enroll" = 1 ] && [ -n "$token_file" ]; then
  set -- enroll --nats "$nats_url" --state-dir "$root$STATE_DIR" --config "$root$CONFIG"
  [ -n "$device_id" ] && set -- "$@" --device-id "$device_id"
  # The token goes to the agent inside the Node process, never on a command line (ps and /proc/<pid>/cmdline show
  # those to every user): a tiny loader reads the file and hands the CLI its arguments.
  OUTPOST_ENROLL_TOKEN_FILE=$token_file node --input-type=module -e '
    import { readFileSync } from "node:fs";
    import { pathToFileURL } from "node:url";
    const [agent, ...args] = process.argv.slice(1);
    const token = readFileSync(process.env.OUTPOST_ENROLL_TOKEN_FILE, "utf8").trim();
    if (token === "") {
      process.stderr.write("install.sh: the token file is empty\n");
      process.exit(2);
    }
    delete process.env.OUTPOST_ENROLL_TOKEN_FILE;
    process.argv = [process.argv[0], agent, ...args, "--token", token];
    await import(pathToFileURL(agent).href);
  ' "$root$AGENT" "$@" || die "enrolment failed (see the message above); fix it and run install.sh again"
  enrolled=1
  if [ -n "$root" ]; then
    # Inside a tree for another system, the config names paths as that system will see them.
    ROOT_PREFIX=$root node -e '
      const fs = require("node:fs");
      const [file] = process.argv.slice(1);
      const prefix = process.env.ROOT_PREFIX;
      const config = JSON.parse(fs.readFileSync(file, "utf8"));
      for (const key of ["stateDir", "credsFile", "caFile"]) {
        if (typeof config[key] === "string" && config[key].startsWith(prefix + "/")) config[key] = config[key].slice(prefix.length);
      }
      fs.writeFileSync(file, JSON.stringify(config, null, 2) + "\n", { mode: 0o600 });
    ' "$root$CONFIG"
  fi
elif [ ! -f "$root$CONFIG" ] && [ -n "$nats_url" ] && [ -n "$device_id" ]; then
  # No token: a device on a plain (development or air-gapped) NATS, without a credential.
  node -e '
    const fs = require("node:fs");
    const [file, deviceId, natsUrl, stateDir] = process.argv.slice(1);
    fs.writeFileSync(file, JSON.stringify({ deviceId, natsUrl, stateDir }, null, 2) + "\n", { mode: 0o600 });
  ' "$root$CONFIG" "$device_id" "$nats_url" "$STATE_DIR"
  say "wrote $CONFIG for $device_id at $nats_url (no credential: plain NATS)"
elif [ "$enroll" = 1 ]; then
  warn "not enrolled: run install.sh again with --nats <url> --token-file <file> (or 'outpost-agent enroll')"
fi
[ -f "$root$CONFIG" ] && chmod 0600 "$root$CONFIG"
chmod 0711 "$root$STATE_DIR"

# --- service --------------------------------------------------------------------------------------------------------
if [ "$start" = 0 ]; then
  say "not starting the service (--no-start)"
elif [ -n "$root" ]; then
  say "installed under $root: systemd left alone (enable outpost-agent.service on the target system)"
elif [ "$systemd_live" = 0 ]; then
  warn "systemd is not running here: start the agent with '$WRAPPER run --config $CONFIG'"
elif [ ! -f "$CONFIG" ]; then
  [ "$unit_changed" = 1 ] && systemctl daemon-reload
  systemctl enable outpost-agent.service
  warn "no $CONFIG yet: the service is enabled but not started; enrol, then 'systemctl start outpost-agent'"
else
  [ "$unit_changed" = 1 ] && systemctl daemon-reload
  systemctl enable outpost-agent.service
  # restart, not start: an upgrade must run the new bundle. Modules survive (KillMode=process).
  systemctl restart outpost-agent.service
  say "outpost-agent.service enabled and (re)started; logs: journalctl -u outpost-agent -f"
fi

if [ "$upgraded" = 1 ]; then say "upgraded the agent to $version"; else say "installed the agent $version"; fi
say "check the installation with: outpost-agent check --config $CONFIG"
