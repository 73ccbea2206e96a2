import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A path inside the installed package. Found by walking up to package.json rather than relative to this
 * module, because the module may run from src/ or bundled into dist/.
 */
export function packagePath(...segments: string[]): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('recoup-migrate: cannot find its package.json above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
  return join(dir, ...segments);
}
