/** One profile per process out of a recording that followed several (--match, --subprocesses). */
import { ProfileBuilder, type Profile } from './profile.js';

/** Profiles by pid, each with only the frames and stacks its own threads use. */
export function splitByProcess(profile: Profile): Map<number, Profile> {
  const builders = new Map<number, ProfileBuilder>();
  for (const t of profile.threads) {
    const pid = t.pid ?? profile.meta.pid ?? 0;
    let b = builders.get(pid);
    if (!b) builders.set(pid, (b = new ProfileBuilder(profile.meta.byLine)));
    const ids = new Map<number, number>();
    const map = (id: number) => {
      let mine = ids.get(id);
      if (mine === undefined) ids.set(id, (mine = b.internFrame(profile.frames[id])));
      return mine;
    };
    const thread = b.thread(t.tid, t.name, t.pid);
    for (let i = 0; i < t.samples.length; i++)
      b.push(thread, b.internStack(profile.stacks[t.samples[i]].map(map)), t.times[i], t.weights[i]);
  }
  const out = new Map<number, Profile>();
  for (const [pid, b] of builders) {
    const samples = b.build(profile.meta).threads.reduce((n, t) => n + t.samples.length, 0);
    out.set(pid, b.build({ ...profile.meta, pid, samples }));
  }
  return out;
}
