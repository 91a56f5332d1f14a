// Builds a JavaScript policy into a component: rolldown bundles the entry module and its
// imports (the SDK included) into one ES module, componentize-qjs embeds it in QuickJS.
//
//   node componentize.mjs ENTRY WIT_DIR WORLD OUT
//
// `sync: true` is the non-async runtime: the async one exports the component-model async ABI
// (`task.cancel`), which the host refuses. Imports resolve from the policy's own
// node_modules first, then from this toolchain's (which carries the SDK).

import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { componentize } from 'componentize-qjs';
import { rolldown } from 'rolldown';

const [entry, wit, world, out] = process.argv.slice(2);
if (!out) {
  console.error('usage: node componentize.mjs ENTRY WIT_DIR WORLD OUT');
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const bundle = await rolldown({
  input: entry,
  platform: 'neutral',
  resolve: {
    modules: ['node_modules', join(here, 'node_modules')],
    conditionNames: ['import', 'default'],
    mainFields: ['module', 'main'],
  },
  logLevel: 'warn',
});
const { output } = await bundle.generate({ format: 'esm' });
await bundle.close();
const { component } = await componentize({
  witPath: wit,
  jsSource: output[0].code,
  world,
  sync: true,
});
await writeFile(out, component);
