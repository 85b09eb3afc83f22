/** Global setup of the e2e project: builds dist/ once, since end-to-end tests run the real `luaprof` binary. */
import { execFileSync } from 'node:child_process';

export default function setup(): void {
  execFileSync('npm', ['run', '--silent', 'build'], {
    stdio: 'inherit',
    cwd: new URL('..', import.meta.url).pathname,
  });
}
