// Regenerates `wit-types/`, the TypeScript declarations of the contract's bindings, from
// `wit/policy@<version>/policy.wit` with jco's type generator (jco 1.35, as `jco guest-types`
// would; its command line cannot read WIT paths here, so the WIT is handed over as text).
//
//   node scripts/wit-types.mjs [TOOLCHAIN_DIR]
//
// TOOLCHAIN_DIR holds the pinned toolchain's node_modules (default: ./toolchain).

import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const VERSION = '0.1.0';
const here = dirname(fileURLToPath(import.meta.url));
const toolchain = resolve(process.argv[2] ?? join(here, '..', 'toolchain'));
const wit = join(here, '..', '..', '..', 'wit', `policy@${VERSION}`, 'policy.wit');
const out = join(here, '..', 'wit-types');

const bindgen = await import(pathToFileURL(join(toolchain,
  'node_modules/@bytecodealliance/jco-transpile/vendor/js-component-bindgen-component.js')).href);
await bindgen.$init;
const files = bindgen.generateTypes('policy', {
  wit: { tag: 'source', val: await readFile(wit, 'utf8') },
  world: 'policy',
  tlaCompat: false,
  guest: true,
  features: { tag: 'list', val: [] },
  flagsAsBigint: false,
});
await rm(out, { recursive: true, force: true });
for (const [name, bytes] of files) {
  const path = join(out, name);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, bytes);
  console.log(path);
}
