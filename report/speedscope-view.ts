/**
 * `luaprof view`: one offline HTML page holding speedscope's own built app
 * (node_modules/speedscope/dist/release) and the profile.
 *
 * speedscope's CLI passes a profile by opening index.html#localProfilePath=<tmp.js>, where the
 * app defines window.speedscope.loadFileFromBase64 and then loads <tmp.js>, which calls it. Here the
 * page sets that hash itself, catches the app's definition of window.speedscope and calls
 * loadFileFromBase64 with the embedded profile; the app's attempt to load the side file is
 * suppressed, so nothing outside the page is read.
 */
import type { Profile } from '../aggregator/profile.js';
import { escapeHtml, jsonForScript, packageDir, scriptText } from './assets.js';
import { toSpeedscope } from './speedscope.js';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const MARKER = 'luaprof-embedded-profile';

function releaseFile(re: RegExp): { name: string; path: string } {
  const dir = join(packageDir('speedscope'), 'dist', 'release');
  const name = readdirSync(dir).find((n) => re.test(n));
  if (!name) throw new Error(`speedscope release file matching ${re} not found in ${dir}`);
  return { name, path: join(dir, name) };
}

export function renderSpeedscopeHtml(profile: Profile, fileName: string): string {
  const js = readFileSync(releaseFile(/^speedscope-.*\.js$/).path, 'utf8');
  let css = readFileSync(releaseFile(/^speedscope-.*\.css$/).path, 'utf8');
  // Inline the font(s) the stylesheet refers to.
  css = css.replace(/url\((['"]?)([^)'"]+\.woff2)\1\)/g, (m, _q: string, name: string) => {
    try {
      const buf = readFileSync(join(packageDir('speedscope'), 'dist', 'release', name));
      return `url(data:font/woff2;base64,${buf.toString('base64')})`;
    } catch {
      return m;
    }
  });
  const icon = readFileSync(releaseFile(/^favicon-32x32-.*\.png$/).path).toString('base64');
  const b64 = Buffer.from(toSpeedscope(profile), 'utf8').toString('base64');
  const loader = `(function () {
  var name = ${jsonForScript(fileName)};
  if (!/localProfilePath=/.test(location.hash)) history.replaceState(null, '', '#localProfilePath=${MARKER}');
  var head = document.head, append = head.appendChild;
  head.appendChild = function (node) {
    if (node && node.tagName === 'SCRIPT' && String(node.src).indexOf('${MARKER}') >= 0) return node;
    return append.call(head, node);
  };
  var api;
  Object.defineProperty(window, 'speedscope', {
    configurable: true,
    get: function () { return api; },
    set: function (v) {
      api = v;
      setTimeout(function () {
        var b64 = document.getElementById('luaprof-profile').textContent.trim();
        v.loadFileFromBase64(name, b64);
      }, 0);
    }
  });
})();`;
  return `<!DOCTYPE html>
<html>
<head>
<meta charset="UTF-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>${escapeHtml(fileName)} - speedscope</title>
<link rel="icon" type="image/png" href="data:image/png;base64,${icon}">
<style>${css.replace(/<\/style/gi, '<\\/style')}</style>
</head>
<body>
<script id="luaprof-profile" type="application/octet-stream">${b64}</script>
<script>${scriptText(loader)}</script>
<script>${scriptText(js)}</script>
</body>
</html>
`;
}
