// Child process of the run-lock test (runtime.test.ts), run from the TypeScript sources through
// ts-register.mjs: `node --import ./ts-register.mjs lock-holder.mjs <run folder>` takes the run
// lock, prints `locked <pid>` (or `refused <message>`), then holds it until killed.
import { RunLock } from '../runtime/run-lock.ts';

try {
  await RunLock.acquire(process.argv[2], { purpose: 'test' });
  process.stdout.write(`locked ${process.pid}\n`);
  setInterval(() => undefined, 1000);
} catch (error) {
  process.stdout.write(`refused ${error.message}\n`);
  process.exitCode = 3;
}
