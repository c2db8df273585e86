/**
 * The spam filter's section of `/account` (src/spam/): what the user's filter learned and
 * how often it was right (the same figures as `mailserver spam status`), and the two
 * settings a user may choose for themselves: how readily mail goes to Junk, and
 * greylisting. Whether mail is scored at all and the reject threshold stay the admin's
 * (`mailserver spam set`): refusing mail at the door is a server-wide matter.
 */
import { getSpamSettings, setSpamSettings, SpamSettingsError, type SpamSettingsPatch } from '../../spam/settings.js';
import { accountStatus } from '../../spam/status.js';
import { facts, html, postForm } from '../html.js';
import { WebError, type PageContext } from '../types.js';
import type { AccountSection } from './account.js';

/** The junk thresholds offered, from "more to Junk" to "less to Junk". */
const THRESHOLDS = [0.7, 0.8, 0.9, 0.95, 0.99];

function status(c: PageContext) {
  const st = accountStatus(c.ctx.config.dataRoot, c.session.account);
  if (!st) return facts([['Trained', 'nothing yet: move spam into Junk and mail that is not spam out of it']]);
  const a = st.accuracy;
  return facts([
    ['Trained', `${st.trained.spam} spam, ${st.trained.ham} not spam (${st.trained.implicitHam} of them from mail you replied to or kept)`],
    ['Right', a.percent === null ? 'no judgements of scored mail yet' : `${a.percent.toFixed(1)} % of your last ${a.judged} judgements (missed spam ${a.missedSpam}, wrongly in Junk ${a.wronglyJunked})`],
  ]);
}

function render(c: PageContext) {
  const s = getSpamSettings(c.ctx.db, c.ctx.config, c.session.account);
  const own = (k: 'junkThreshold' | 'greylist') => s.overridden.includes(k);
  const def = c.ctx.config.spam;
  const options = [
    html`<option value="default"${own('junkThreshold') ? '' : html` selected`}>server default (${def.junkThreshold})</option>`,
    ...THRESHOLDS.map((t) => html`<option value="${t}"${own('junkThreshold') && s.junkThreshold === t ? html` selected` : ''}>${t}</option>`),
  ];
  const grey = (v: string, label: string, on: boolean) => html`<option value="${v}"${on ? html` selected` : ''}>${label}</option>`;
  return html`${s.enabled ? '' : html`<p class="muted">Your mail is not scored (the administrator switched it off).</p>`}
${status(c)}
${postForm(
  '/account/spam',
  c.session.csrf,
  html`<label>Junk threshold<select name="junk">${options}</select></label>
<label>Greylisting<select name="greylist">${grey('default', `server default (${def.greylist ? 'on' : 'off'})`, !own('greylist'))}${grey('on', 'on', own('greylist') && s.greylist)}${grey('off', 'off', own('greylist') && !s.greylist)}</select></label>
<button>Save</button>
<p class="muted">Mail scoring at or above the threshold (0 to 1) goes to Junk: lower catches more spam and risks more good mail there.
Every message says why in its X-Spam-Reasons header. Greylisting asks unknown senders to try again later, which delays their first mail.</p>`,
)}`;
}

function submit(c: PageContext): string {
  const junk = c.form.get('junk') ?? 'default';
  const greylist = c.form.get('greylist') ?? 'default';
  const patch: SpamSettingsPatch = {};
  if (junk === 'default') patch.junkThreshold = null;
  else if (THRESHOLDS.includes(Number(junk))) patch.junkThreshold = Number(junk);
  else throw new WebError('choose one of the junk thresholds offered');
  if (greylist === 'default') patch.greylist = null;
  else if (greylist === 'on' || greylist === 'off') patch.greylist = greylist === 'on';
  else throw new WebError('greylisting is on, off or the default');
  try {
    setSpamSettings(c.ctx.db, c.session.account, patch);
  } catch (err) {
    if (err instanceof SpamSettingsError) throw new WebError(err.message);
    throw err;
  }
  c.log.info({ junkThreshold: patch.junkThreshold, greylist: patch.greylist }, 'spam settings changed by their owner');
  return 'Spam settings saved.';
}

export const spamSection: AccountSection = { id: 'spam', title: 'Spam filter', render, submit };
