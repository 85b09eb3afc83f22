// Copies non-TypeScript assets (HTML templates) next to the compiled modules.
import { cpSync, existsSync, readdirSync, statSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
for (const dir of ['report']) {
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(html|css|js)$/.test(name) && !name.endsWith('.d.ts')) {
        const out = join('dist', p);
        mkdirSync(join(out, '..'), { recursive: true });
        cpSync(p, out);
      }
    }
  };
  if (existsSync(dir)) walk(dir);
}
