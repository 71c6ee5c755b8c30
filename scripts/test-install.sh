#!/usr/bin/env bash
# `npm install wslay` as a user on a machine with no compiler and no system wslay: both packages packed (the main
# one and the prebuilt platform package of `npm run prebuild`; `npm publish --dry-run` of each passes and lists only
# the intended files), installed into an empty project with --ignore-scripts (npm 12's default) inside a mount
# namespace where libwslay.so*, /usr/include/wslay and every C/C++ compiler are hidden. Then require() and import() load, an echo round trip with `ws` works, libwslay comes
# from the package directory, a missing or broken libwslay and a missing platform package give their one-line
# errors, and npm 11's default install prints no install-script warning. Last, with the compiler back, `npx
# wslay-build` is the one-command source build for a project without the platform package.
#   scripts/test-install.sh          (Linux, as root: unshare -m and mount --bind; CI runs it from .ci/run)
#   KEEP=1 keeps the scratch directory
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

if [[ ${1-} != --inside ]]; then
  [[ $(id -u) == 0 ]] || { echo "test-install: needs root (unshare -m, mount --bind)" >&2; exit 1; }
  work=$(mktemp -d /tmp/wslay-install-XXXXXX)
  [[ -n ${KEEP-} ]] && echo "test-install: keeping $work" || trap 'rm -rf "$work"' EXIT
  echo "test-install: packing"
  node scripts/prebuild.mjs
  # npm publish --dry-run of both packages passes and would publish only these files.
  check_publish() { # dir, pattern every file must match
    (cd "$1" && npm publish --dry-run --json 2>"$work/publish.err") >"$work/publish.json" ||
      { cat "$work/publish.err"; echo "test-install: FAILED: npm publish --dry-run in $1" >&2; exit 1; }
    node -e '
      const [file, pattern] = process.argv.slice(1);
      const files = Object.values(JSON.parse(require("fs").readFileSync(file, "utf8")))[0].files.map((f) => f.path);
      const stray = files.filter((f) => !new RegExp(`^(${pattern})$`).test(f));
      if (stray.length || !files.includes("package.json")) { console.error(`unexpected: ${stray.join(" ")}`); process.exit(1); }
      console.log(`test-install: npm publish --dry-run: ${files.length} files, as intended`);' "$work/publish.json" "$2" ||
      { echo "test-install: FAILED: the files npm would publish from $1" >&2; exit 1; }
  }
  check_publish . 'package\.json|README\.md|LICENSE|dist/(ws/)?[a-z0-9-]+\.(js|mjs|d\.ts|d\.mts)|native/[a-z0-9_]+\.(cc|h)|deps/find-wslay\.js|scripts/build-native\.mjs|binding\.gyp|CMakeLists\.txt'
  check_publish npm/linux-x64-gnu 'package\.json|README\.md|LICENSE|LICENSE-wslay|wslay\.node|libwslay\.so\.1'
  npm pack --silent --pack-destination "$work" >/dev/null
  npm pack --silent --ignore-scripts --pack-destination "$work" ./node_modules/ws >/dev/null
  cp build/prebuild/wslay-linux-x64-gnu-"$(node -p 'require("./package.json").version')".tgz "$work"/
  # A PATH with every tool of this machine except C/C++ compilers.
  mkdir "$work/bin"
  for dir in /usr/local/bin /usr/bin /bin; do
    for tool in "$dir"/*; do
      name=${tool##*/}
      [[ -x $tool && ! -e $work/bin/$name ]] || continue
      [[ $name =~ ^(clang|cc$|c\+\+$|c89|c99|gcc|g\+\+|cpp|tcc) || $name =~ -(gcc|g\+\+|cpp|cc|c\+\+)(-[0-9.]+)?$ ]] && continue
      ln -s "$tool" "$work/bin/$name"
    done
  done
  unshare -m --propagation private env PATH="$work/bin" WORK="$work" bash "$repo/scripts/test-install.sh" --inside
  # Back on the whole machine: the source build is one command, and the loader takes it when there is no prebuild.
  cd "$work/app2"
  rm -rf node_modules/@wslay
  npx wslay-build >"$work/source-build.log" 2>&1 || { cat "$work/source-build.log"; echo "test-install: FAILED: npx wslay-build" >&2; exit 1; }
  node -e "require('wslay'); if (!/node_modules\/wslay\/build\/Release\/wslay.node/.test(require('fs').readFileSync('/proc/self/maps', 'utf8'))) process.exit(1)" ||
    { echo "test-install: FAILED: the source build is not what loads" >&2; exit 1; }
  echo "test-install: without the platform package, \`npx wslay-build\` builds from source and that build loads"
  echo "test-install: passed"
  exit 0
fi

# Inside the namespace: hide the system's wslay (library and headers).
work=$WORK
fail() { echo "test-install: FAILED: $*" >&2; exit 1; }
: >"$work/empty"
mkdir "$work/empty-dir"
for lib in $(ls /usr/lib/*/libwslay.so* /usr/lib/libwslay.so* /usr/local/lib/libwslay.so* 2>/dev/null | xargs -r realpath | sort -u); do
  mount --bind "$work/empty" "$lib"
done
[[ -d /usr/include/wslay ]] && mount --bind "$work/empty-dir" /usr/include/wslay
for cc in cc gcc g++ c++ clang clang++ clang-14; do ! command -v "$cc" >/dev/null || fail "$cc is on PATH"; done
[[ ! -e /usr/include/wslay/wslay.h ]] || fail "wslay.h is visible"
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

app=$work/app
mkdir "$app" && cd "$app"
echo '{ "name": "app", "version": "1.0.0", "private": true }' >package.json
echo "test-install: npm install --ignore-scripts (no compiler, no system wslay)"
npm install --ignore-scripts --no-audit --no-fund "$work"/wslay-[0-9]*.tgz "$work"/wslay-linux-x64-gnu-*.tgz "$work"/ws-*.tgz \
  >"$work/install.log" 2>&1 || { cat "$work/install.log"; fail "npm install"; }
pkgdir=$app/node_modules/@wslay/linux-x64-gnu

cat >echo.cjs <<'EOF'
// Loads wslay, echoes one text and one binary message to a ws client, and says where the addon and libwslay are.
const http = require('node:http');
const fs = require('node:fs');
const WebSocket = require('ws');
const { handleUpgrade, Opcode } = require('wslay');

const server = http.createServer();
server.on('upgrade', (req, socket, head) => {
  handleUpgrade(req, socket, head, {
    onMsgRecv(rsv, opcode, msg) {
      if (opcode === Opcode.TEXT || opcode === Opcode.BINARY) this.queueMsg(msg, opcode);
    },
  });
});
server.listen(0, '127.0.0.1', () => {
  const ws = new WebSocket(`ws://127.0.0.1:${server.address().port}/`);
  const got = [];
  ws.on('open', () => {
    ws.send('hello');
    ws.send(Buffer.from([1, 2, 3]));
  });
  ws.on('message', (data, isBinary) => {
    got.push(isBinary ? `binary:${[...data].join(',')}` : `text:${data}`);
    if (got.length === 2) ws.close(1000);
  });
  ws.on('close', (code) => {
    const maps = fs.readFileSync('/proc/self/maps', 'utf8').split('\n').map((l) => l.split(/\s+/)[5]);
    const mapped = (name) => [...new Set(maps.filter((p) => p && p.endsWith(name)))].join(' ');
    console.log(JSON.stringify({ got, code, addon: mapped('/wslay.node'), libwslay: mapped('/libwslay.so.1') }));
    server.close();
  });
});
EOF
out=$(node echo.cjs) || fail "echo round trip"
echo "test-install: echo: $out"
expected="{\"got\":[\"text:hello\",\"binary:1,2,3\"],\"code\":1000,\"addon\":\"$pkgdir/wslay.node\",\"libwslay\":\"$pkgdir/libwslay.so.1\"}"
[[ $out == "$expected" ]] || fail "echo: expected $expected"
node -e "require('wslay')" || fail "require('wslay')"
node --input-type=module -e "const m = await import('wslay'); if (typeof m.handleUpgrade !== 'function') process.exit(1)" ||
  fail "import('wslay')"
node -e "const W = require('wslay/ws'); if (W.WebSocket !== W || typeof W.Server !== 'function') process.exit(1)" ||
  fail "require('wslay/ws')"
node --input-type=module -e "const m = await import('wslay/ws'); if (typeof m.WebSocketServer !== 'function') process.exit(1)" ||
  fail "import('wslay/ws')"
# wslay/redis loads without its optional peers, which a plain install leaves out.
node -e "if (typeof require('wslay/redis').RedisBridge !== 'function') process.exit(1)" || fail "require('wslay/redis')"
node --input-type=module -e "const m = await import('wslay/redis'); if (typeof m.RedisBridge !== 'function') process.exit(1)" ||
  fail "import('wslay/redis')"
for peer in ioredis redis; do
  ! node -e "require.resolve('$peer')" 2>/dev/null || fail "$peer was installed: it is an optional peer"
done
ldd "$pkgdir/wslay.node" | grep -q "libwslay.so.1 => $pkgdir/libwslay.so.1 " || { ldd "$pkgdir/wslay.node"; fail "ldd"; }
echo "test-install: require, import (also wslay/ws, wslay/redis), ldd: libwslay.so.1 => $pkgdir/libwslay.so.1"

# The errors a user may meet: one message saying what to do, no stack frames of ours, no raw dlopen error alone.
echo "require('wslay');" >load.cjs
expect_error() { # what, pattern
  if node load.cjs >"$work/out" 2>&1; then fail "$1: require('wslay') loaded"; fi
  grep -q -- "$2" "$work/out" || { cat "$work/out"; fail "$1: no \"$2\" in the error"; }
  ! grep -q "^ *at .*node_modules/wslay/" "$work/out" || { cat "$work/out"; fail "$1: a stack trace of wslay's"; }
  echo "test-install: $1: $(grep -m1 '^Error: ' "$work/out" | cut -c1-150)…"
}
cp "$pkgdir/libwslay.so.1" "$work/libwslay.so.1"
rm "$pkgdir/libwslay.so.1"
expect_error "libwslay.so.1 missing" "npm install @wslay/linux-x64-gnu@"
: >"$pkgdir/libwslay.so.1"
expect_error "libwslay.so.1 broken" "npm install @wslay/linux-x64-gnu@"
cp "$work/libwslay.so.1" "$pkgdir/libwslay.so.1"
mv "$app/node_modules/@wslay" "$work/platform-package"
expect_error "no platform package" "apt-get install libwslay-dev.*then run \`npx wslay-build\`"
mv "$work/platform-package" "$app/node_modules/@wslay"

# npm 11's defaults (no --ignore-scripts, no user config): no install script runs, so none is warned about.
if (($(npm --version | cut -d. -f1) >= 11)); then
  mkdir "$work/app2" && cd "$work/app2"
  echo '{ "name": "app2", "version": "1.0.0", "private": true }' >package.json
  : >"$work/npmrc"
  env -u npm_config_audit -u npm_config_fund -u npm_config_update_notifier NPM_CONFIG_USERCONFIG=$work/npmrc npm install "$work"/wslay-[0-9]*.tgz "$work"/wslay-linux-x64-gnu-*.tgz >"$work/install2.log" 2>&1 ||
    { cat "$work/install2.log"; fail "npm install with npm's defaults"; }
  ! grep -qi "install-scripts\|install script" "$work/install2.log" || { cat "$work/install2.log"; fail "install-script warning"; }
  node -e "require('wslay')" || fail "require('wslay') after the default install"
  mkdir "$work/app3" && cd "$work/app3"
  echo '{ "name": "app3", "version": "1.0.0", "private": true }' >package.json
  npm install --strict-allow-scripts "$work"/wslay-[0-9]*.tgz "$work"/wslay-linux-x64-gnu-*.tgz >"$work/install3.log" 2>&1 ||
    { cat "$work/install3.log"; fail "npm install --strict-allow-scripts"; }
  echo "test-install: npm $(npm --version) with its defaults: no install-script warning; --strict-allow-scripts passes"
else
  echo "test-install: npm $(npm --version) < 11: the install-script warning check needs npm 11"
  mkdir "$work/app2" && cd "$work/app2"
  echo '{ "name": "app2", "version": "1.0.0", "private": true }' >package.json
  npm install "$work"/wslay-[0-9]*.tgz >/dev/null 2>&1 || fail "npm install"
fi
