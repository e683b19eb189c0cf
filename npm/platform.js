'use strict';
// Which prebuilt addon package fits this machine. Follows the napi-rs naming convention
// (`<pkg>-<platform>-<arch>[-<abi>]`, e.g. jest-testflow-linux-x64-gnu), so a release can
// publish one small package per platform as optionalDependencies and npm installs only the
// one whose os/cpu/libc match.

/** Rust target triple for each platform key we publish. */
const TARGETS = {
  'linux-x64-gnu': 'x86_64-unknown-linux-gnu',
  'linux-arm64-gnu': 'aarch64-unknown-linux-gnu',
  'linux-x64-musl': 'x86_64-unknown-linux-musl',
  'linux-arm64-musl': 'aarch64-unknown-linux-musl',
  'darwin-x64': 'x86_64-apple-darwin',
  'darwin-arm64': 'aarch64-apple-darwin',
  'win32-x64-msvc': 'x86_64-pc-windows-msvc',
  'win32-arm64-msvc': 'aarch64-pc-windows-msvc',
};

/** glibc or musl: Node's own report says which C library it runs on. */
function linuxLibc() {
  try {
    const header = process.report && process.report.getReport().header;
    return header && header.glibcVersionRuntime ? 'gnu' : 'musl';
  } catch {
    return 'gnu';
  }
}

/** The platform key of this process (`linux-x64-gnu`, `darwin-arm64`, …). */
function platformKey(platform = process.platform, arch = process.arch, libc = undefined) {
  if (platform === 'linux') return `linux-${arch}-${libc || linuxLibc()}`;
  if (platform === 'win32') return `win32-${arch}-msvc`;
  return `${platform}-${arch}`;
}

/** npm package metadata (os/cpu/libc) for a platform key. */
function packageConstraints(key) {
  const [platform, arch, abi] = key.split('-');
  const out = { os: [platform], cpu: [arch] };
  if (platform === 'linux') out.libc = [abi === 'musl' ? 'musl' : 'glibc'];
  return out;
}

module.exports = { TARGETS, platformKey, packageConstraints, linuxLibc };
