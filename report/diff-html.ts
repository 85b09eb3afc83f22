/** The differential flamegraph page for `luaprof diff` (same page script as the report, diff mode). */
import type { ProfileDiff } from '../aggregator/diff.js';
import { packDiffTree } from '../aggregator/diff.js';
import type { ProfileMeta } from '../aggregator/profile.js';
import { frameTable, nameOrder, renderPage, type DiffPageData } from './html.js';

export interface DiffSides {
  baseName: string;
  newName: string;
  baseMeta?: ProfileMeta;
  newMeta?: ProfileMeta;
}

export function buildDiffData(diff: ProfileDiff, sides: DiffSides): DiffPageData {
  const tree = packDiffTree(diff.tree, nameOrder(diff.frames.map((f) => f.name)));
  const facts: Array<[string, string]> = [
    ['base', sides.baseName],
    ['new', sides.newName],
    ['base samples', String(diff.baseTotal)],
    ['new samples', String(diff.newTotal)],
  ];
  const cmd = (m?: ProfileMeta) => (m?.command?.length ? m.command.join(' ') : undefined);
  if (cmd(sides.baseMeta)) facts.push(['base command', cmd(sides.baseMeta)!]);
  if (cmd(sides.newMeta) && cmd(sides.newMeta) !== cmd(sides.baseMeta))
    facts.push(['new command', cmd(sides.newMeta)!]);
  if (sides.baseMeta?.luaVersion) facts.push(['Lua', sides.baseMeta.luaVersion]);
  facts.push(['matching', diff.byLine ? 'name + file + line' : 'name + file']);
  facts.push([
    'significance',
    `two-proportion z-test, alpha ${diff.alpha}, Bonferroni over ${diff.functions.length} functions`,
  ]);
  facts.push(['regressions', String(diff.regressions.length)]);
  facts.push(['improvements', String(diff.improvements.length)]);
  return {
    mode: 'diff',
    title: `luaprof diff: ${sides.baseName} → ${sides.newName}`,
    facts,
    frames: frameTable(diff),
    baseTotal: diff.baseTotal,
    newTotal: diff.newTotal,
    tree,
    fn: diff.functions.map((f) => [
      f.frame,
      f.baseSelf,
      f.baseTotal,
      f.newSelf,
      f.newTotal,
      Number(f.total.p.toPrecision(3)),
      f.significant ? 1 : 0,
    ]),
    alpha: diff.alpha,
  };
}

export function renderDiffHtml(diff: ProfileDiff, sides: DiffSides): string {
  return renderPage(buildDiffData(diff, sides));
}
