/** Builds dist/ once before the suites: end-to-end tests run the real `luaprof` binary. */
import { execFileSync } from 'node:child_process';

export default function setup(): void {
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit', cwd: new URL('..', import.meta.url).pathname });
}
