#!/bin/sh
# Install or uninstall slawatch as a systemd service on Debian: `make install` / `make uninstall`.
#
#   install: a virtualenv at $PREFIX (/opt/slawatch) with slawatch in it; the system user from
#            slawatch.sysusers; /etc/slawatch and /etc/credstore from slawatch.tmpfiles; the example
#            config at /etc/slawatch/slawatch.toml if there is none (its API token then comes from
#            the credential api-token, generated once into /etc/credstore/slawatch.api-token); the
#            unit; then daemon-reload, enable, and a restart if it was running (an upgrade:
#            migrations run at start).
#   uninstall: stop and disable the unit, remove the unit, the sysusers/tmpfiles entries and the
#            virtualenv. Configuration, credentials, the database and the user stay.
#
# DESTDIR=/some/root installs below that root instead (the tests do); systemctl is not called
# then, and users are created in DESTDIR's /etc/passwd. PIP_FLAGS is passed to pip.
set -eu

action="${1:-install}"
src="$(cd "$(dirname "$0")/.." && pwd)"
root="${DESTDIR:-}"
PREFIX="${PREFIX:-/opt/slawatch}"
PYTHON="${PYTHON:-python3}"
PIP_FLAGS="${PIP_FLAGS:-}"
SYSCONFDIR="${SYSCONFDIR:-/etc}"
UNITDIR="${UNITDIR:-/etc/systemd/system}"
SYSUSERSDIR="${SYSUSERSDIR:-/etc/sysusers.d}"
TMPFILESDIR="${TMPFILESDIR:-/etc/tmpfiles.d}"
CREDSTORE="${CREDSTORE:-/etc/credstore}"

venv="$root$PREFIX"
config="$root$SYSCONFDIR/slawatch/slawatch.toml"
token="$root$CREDSTORE/slawatch.api-token"
unit="$root$UNITDIR/slawatch.service"

say() { printf 'slawatch: %s\n' "$*"; }

use_systemctl() {
  [ -z "$root" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null
}

root_flag() {
  if [ -n "$root" ]; then printf -- '--root=%s' "$root"; fi
}

group_id() {
  if [ -n "$root" ]; then
    awk -F: '$1 == "slawatch" { print $3 }' "$root/etc/group"
  else
    getent group slawatch | cut -d: -f3
  fi
}

do_install() {
  if [ "$(id -u)" -ne 0 ] && [ -z "$root" ]; then
    say "run as root (sudo make install), or set DESTDIR to install into a staging root" >&2
    exit 2
  fi

  say "virtualenv $venv"
  if [ ! -x "$venv/bin/python" ]; then
    mkdir -p "$(dirname "$venv")"
    "$PYTHON" -m venv "$venv"
  fi
  wheels="$(mktemp -d)"
  pip="$venv/bin/pip"
  "$pip" wheel --quiet --disable-pip-version-check --no-deps --wheel-dir "$wheels" "$src"
  # shellcheck disable=SC2086  # PIP_FLAGS is a list of flags
  "$pip" install --quiet --disable-pip-version-check $PIP_FLAGS "$wheels"/slawatch-*.whl
  # An upgrade from a newer checkout may carry the same version number: reinstall slawatch.
  "$pip" install --quiet --disable-pip-version-check --no-deps --force-reinstall \
    "$wheels"/slawatch-*.whl
  rm -rf "$wheels"

  say "system user slawatch"
  install -D -m 0644 "$src/systemd/slawatch.sysusers" "$root$SYSUSERSDIR/slawatch.conf"
  mkdir -p "$root/etc"
  # shellcheck disable=SC2046
  systemd-sysusers $(root_flag) "$root$SYSUSERSDIR/slawatch.conf"

  say "directories /etc/slawatch, $CREDSTORE"
  install -D -m 0644 "$src/systemd/slawatch.tmpfiles" "$root$TMPFILESDIR/slawatch.conf"
  # shellcheck disable=SC2046
  systemd-tmpfiles $(root_flag) --create "$root$TMPFILESDIR/slawatch.conf"

  if [ -e "$config" ]; then
    say "keeping the existing $SYSCONFDIR/slawatch/slawatch.toml"
  else
    say "example config at $SYSCONFDIR/slawatch/slawatch.toml"
    tmp="$(mktemp)"
    # The API token comes from systemd's credential; the database is named explicitly so that
    # CLI commands (which read this file too) find the daemon's database outside the unit.
    sed -e 's#"env:SLAWATCH_API_TOKEN"#"credential:api-token"#' \
      -e '/^\[database\]$/a url = "sqlite:////var/lib/slawatch/slawatch.db"' \
      "$src/config/slawatch.toml" >"$tmp"
    install -D -m 0640 "$tmp" "$config"
    rm -f "$tmp"
    chgrp "$(group_id)" "$config"
  fi

  if [ ! -s "$token" ]; then
    say "generating the API token into $CREDSTORE/slawatch.api-token"
    mkdir -p "$(dirname "$token")"
    (umask 077 && "$venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(32))' >"$token")
  fi

  say "unit $UNITDIR/slawatch.service"
  tmp="$(mktemp)"
  sed "s#/opt/slawatch#$PREFIX#g" "$src/systemd/slawatch.service" >"$tmp"
  install -D -m 0644 "$tmp" "$unit"
  rm -f "$tmp"

  if use_systemctl; then
    systemctl daemon-reload
    systemctl enable slawatch.service
    if systemctl is-active --quiet slawatch.service; then
      say "restarting the running service (migrations run at start)"
      systemctl restart slawatch.service
    else
      say "enabled; start it with: systemctl start slawatch"
    fi
  else
    say "not calling systemctl (DESTDIR set or systemd not running)"
  fi
}

do_uninstall() {
  if use_systemctl; then
    systemctl disable --now slawatch.service 2>/dev/null || true
  fi
  rm -f "$unit" "$root$SYSUSERSDIR/slawatch.conf" "$root$TMPFILESDIR/slawatch.conf"
  if [ -x "$venv/bin/python" ]; then
    rm -rf "$venv"
  fi
  if use_systemctl; then
    systemctl daemon-reload
  fi
  say "removed the unit and $PREFIX"
  say "kept: $SYSCONFDIR/slawatch, $CREDSTORE/slawatch.*, /var/lib/slawatch, the slawatch user"
  say "remove them with: rm -rf /etc/slawatch /var/lib/slawatch /etc/credstore/slawatch.*;" \
    "userdel slawatch"
}

case "$action" in
  install) do_install ;;
  uninstall) do_uninstall ;;
  *)
    say "usage: $0 install|uninstall" >&2
    exit 2
    ;;
esac
