#!/usr/bin/env node
// Launcher only: check the Node version, then hand over to the built CLI.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 18)) {
  process.stderr.write(`petrel: Node.js >= 20.18 is required (this is ${process.versions.node})\n`);
  process.exit(1);
}
const { main } = await import('../dist/cli/main.js');
await main(process.argv);
