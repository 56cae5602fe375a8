// Child process of the atomic-write tests (result-writer.test.ts), run from the TypeScript sources
// through ts-register.mjs. Modes:
// - `hang-before-rename <target> <bytes>`: writeFileAtomic of <bytes> bytes of "N" whose rename
//   never returns; prints `ready` once the data is written and flushed, then waits to be killed.
// - `loop <target> <bytes>`: rewrites <target> forever with writeFileAtomic, alternating whole
//   files of "A" and "B"; prints `ready` after the first write.
import * as fs from 'node:fs/promises';

import { writeFileAtomic } from '../result-writer.ts';

const [mode, target, size] = process.argv.slice(2);
const bytes = Number(size);

if (mode === 'hang-before-rename') {
  const layer = {
    open: (path, flags) => fs.open(path, flags),
    rm: (path, options) => fs.rm(path, options),
    rename: () => {
      process.stdout.write('ready\n');
      return new Promise(() => setInterval(() => undefined, 1000));
    },
  };
  await writeFileAtomic(target, Buffer.alloc(bytes, 'N'), { fs: layer });
} else if (mode === 'loop') {
  const files = [Buffer.alloc(bytes, 'A'), Buffer.alloc(bytes, 'B')];
  for (let index = 0; ; index++) {
    await writeFileAtomic(target, files[index % 2]);
    if (index === 0) process.stdout.write('ready\n');
  }
} else {
  throw new Error(`unknown mode ${mode}`);
}
