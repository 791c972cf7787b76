#!/bin/sh
# Build, on the lab host it runs on, a local apt repository that looks like the security suite
# (Release: Origin Debian, Label Debian-Security, Suite/Codename <codename>-security) holding
# version 1.1 of a tiny package, install version 1.0 of it and hold it: a held security update.
#   security_repo.sh up|down
# Only the repository's own source is refreshed (no other apt source is contacted).
set -eu
PKG=soc2audit-probe
DIR=/srv/soc2audit-test-repo
LIST=/etc/apt/sources.list.d/soc2audit-test-repo.list
. /etc/os-release
CODENAME=$VERSION_CODENAME
update() {
  apt-get update -qq -o Dir::Etc::sourcelist="$LIST" -o Dir::Etc::sourceparts=- \
    -o APT::Get::List-Cleanup=0
}
build() {  # version
  d=$(mktemp -d)
  mkdir -p "$d/DEBIAN" "$d/usr/share/doc/$PKG"
  printf 'soc2audit test package %s\n' "$1" > "$d/usr/share/doc/$PKG/README"
  cat > "$d/DEBIAN/control" <<CTRL
Package: $PKG
Version: $1
Architecture: all
Maintainer: soc2-audit-metrics tests <tests@example.invalid>
Description: soc2audit integration test package (held security update)
CTRL
  dpkg-deb --root-owner-group -Zgzip --build "$d" "$DIR/${PKG}_$1_all.deb" >/dev/null
  rm -rf "$d"
}
case "$1" in
up)
  rm -rf "$DIR"; mkdir -p "$DIR"
  build 1.0; build 1.1
  dpkg -i "$DIR/${PKG}_1.0_all.deb" >/dev/null
  rm "$DIR/${PKG}_1.0_all.deb"
  deb="$DIR/${PKG}_1.1_all.deb"
  cat > "$DIR/Packages" <<PKGS
Package: $PKG
Version: 1.1
Architecture: all
Maintainer: soc2-audit-metrics tests <tests@example.invalid>
Filename: ./${PKG}_1.1_all.deb
Size: $(stat -c %s "$deb")
SHA256: $(sha256sum "$deb" | cut -d' ' -f1)
Description: soc2audit integration test package (held security update)

PKGS
  cat > "$DIR/Release" <<REL
Origin: Debian
Label: Debian-Security
Suite: $CODENAME-security
Codename: $CODENAME-security
Date: $(date -u -R)
Architectures: all amd64 arm64
SHA256:
 $(sha256sum "$DIR/Packages" | cut -d' ' -f1) $(stat -c %s "$DIR/Packages") Packages
REL
  echo "deb [trusted=yes] file:$DIR ./" > "$LIST"
  update
  apt-mark hold "$PKG" >/dev/null
  ;;
down)
  if dpkg-query -W "$PKG" >/dev/null 2>&1; then
    apt-mark unhold "$PKG" >/dev/null
    dpkg --purge "$PKG" >/dev/null
  fi
  if [ -f "$LIST" ]; then update || true; fi
  rm -f "$LIST"
  rm -rf "$DIR" /var/lib/apt/lists/_srv_soc2audit-test-repo_*
  ;;
esac
