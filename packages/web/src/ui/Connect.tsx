/**
 * The connect screen: [Server], [Name], optional password, [Connect]; clear errors; the host
 * approval wait.
 */
import { useState, type FormEvent } from 'react';
import type { UiError } from '../app/types.ts';
import type { MsgKey } from '../i18n.ts';
import { useApp, useAppState, useT } from './context.ts';

const ERROR_KEYS: Record<string, MsgKey> = {
  WEB_ERR_UNREACHABLE: 'err_unreachable',
  WEB_ERR_MICROPHONE: 'err_microphone',
  SIG_ERR_NAME_TAKEN: 'err_name_taken',
  SIG_ERR_BAD_NAME: 'err_bad_name',
  SIG_ERR_BAD_PASSWORD: 'err_password',
  SIG_ERR_REFUSED: 'err_refused_by_host',
  SIG_ERR_SERVER_FULL: 'err_server_full',
  CONTROL_ERR_WRONG_STATE: 'err_wrong_state',
  WEB_ERR_NATIVE_ONLY: 'err_native_only',
};

/** The translated text for an error: known codes get our wording, others show the message. */
export function useErrorText(): (e: UiError) => string {
  const t = useT();
  return (e) => {
    const key = ERROR_KEYS[e.code];
    return t(key ?? 'err_generic', { message: e.message });
  };
}

/** The device list with the device in use first when the engine did not list it (a wav: file). */
export function withCurrent(
  list: readonly { spec: string; description: string }[],
  current: string,
): { spec: string; description: string }[] {
  return list.some((d) => d.spec === current)
    ? [...list]
    : [{ spec: current, description: current }, ...list];
}

/** Default server: the page's own origin in browser mode; the last one used in the native app. */
function defaultServer(mode: 'browser' | 'native', recent: readonly string[]): string {
  if (mode === 'native') return recent[0] ?? '';
  return typeof location === 'undefined' ? '' : location.host;
}

/** The connect form. */
export function ConnectScreen() {
  const { backend } = useApp();
  const state = useAppState();
  const t = useT();
  const errorText = useErrorText();
  const recent = state.native?.recentServers ?? [];
  const [server, setServer] = useState(state.server || defaultServer(state.mode, recent));
  // Native mode: the app (`parloir app`) connects where the user says; `connect --ui` was told.
  const canConnect = state.mode === 'browser' || state.native?.canConnect === true;
  const [name, setName] = useState(state.myName || localStorage.getItem('parloir.name') || '');
  const [password, setPassword] = useState('');
  const busy = state.phase === 'connecting' || state.phase === 'awaiting-approval';

  const submit = (e: FormEvent, trust?: string) => {
    e.preventDefault();
    if (busy || name.trim() === '' || server.trim() === '') return;
    localStorage.setItem('parloir.name', name.trim());
    // Asked inside the click: incoming calls notify when the tab is hidden.
    if (typeof Notification !== 'undefined' && Notification.permission === 'default')
      void Notification.requestPermission().catch(() => undefined);
    void backend.connect({
      server: server.trim(),
      name: name.trim(),
      ...(password ? { password } : {}),
      ...(trust === undefined ? {} : { trust }),
    });
  };
  const q = state.trustQuestion;

  const hostHere = () => {
    if (busy || name.trim() === '') return;
    localStorage.setItem('parloir.name', name.trim());
    backend.host({ name: name.trim(), ...(password ? { password } : {}) });
  };

  return (
    <main className="connect">
      <form className="card connect-card" onSubmit={submit} aria-busy={busy}>
        <div className="brand-big" aria-hidden="true">
          <Logo />
        </div>
        <h1>Parloir</h1>
        <p className="muted">{t('appTagline')}</p>
        <label>
          <span>{t('server')}</span>
          <input
            aria-label={t('server')}
            value={server}
            onChange={(e) => setServer(e.target.value)}
            placeholder={t('serverPlaceholder')}
            autoComplete="url"
            list={recent.length > 0 ? 'recent-servers' : undefined}
            required
            disabled={busy || !canConnect}
          />
          {recent.length > 0 && (
            <datalist id="recent-servers" aria-label={t('recentServers')}>
              {recent.map((r) => (
                <option key={r} value={r} />
              ))}
            </datalist>
          )}
        </label>
        <label>
          <span>{t('name')}</span>
          <input
            aria-label={t('name')}
            value={name}
            onChange={(e) => setName(e.target.value)}
            placeholder={t('namePlaceholder')}
            autoComplete="nickname"
            maxLength={64}
            required
            disabled={busy}
          />
        </label>
        <label>
          <span>{t('password')}</span>
          <input
            aria-label={t('password')}
            type="password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            autoComplete="current-password"
            disabled={busy}
          />
        </label>
        {state.error !== null && (
          <p className="error" role="alert" data-code={state.error.code}>
            {errorText(state.error)}
          </p>
        )}
        {state.phase === 'awaiting-approval' && (
          <p className="info" role="status">
            {t('waitingApproval')}
          </p>
        )}
        {q !== null && q.kind === 'new' && (
          <div className="fingerprint" role="note" data-trust="new">
            <p>{t('fingerprintFirstUse')}</p>
            <code>{q.fingerprint}</code>
            <p className="muted">{t('fingerprintTrust')}</p>
            <button type="button" className="primary" onClick={(e) => submit(e, q.fingerprint)}>
              {t('trustAndConnect')}
            </button>
          </div>
        )}
        {q !== null && q.kind === 'changed' && (
          <div className="fingerprint changed" role="alert" data-trust="changed">
            <p>
              <strong>{t('fingerprintChanged', { server: q.server })}</strong>
            </p>
            <p className="small">{t('fingerprintWas')}</p>
            <code>{q.pinned}</code>
            <p className="small">{t('fingerprintNow')}</p>
            <code>{q.fingerprint}</code>
            <p className="small">{t('fingerprintChangedAdvice')}</p>
            <button type="button" className="danger" onClick={(e) => submit(e, q.fingerprint)}>
              {t('connectAnyway')}
            </button>
          </div>
        )}
        {state.serverFingerprint !== null && (
          <div className="fingerprint" role="note">
            <p>{t('fingerprintFirstUse')}</p>
            <code>{state.serverFingerprint}</code>
            <p className="muted">{t('fingerprintTrust')}</p>
          </div>
        )}
        <button type="submit" className="primary" disabled={busy || !canConnect}>
          {busy ? t('connecting') : t('connect')}
        </button>
        {state.mode === 'native' && canConnect && state.native !== null && (
          <div className="device-row">
            <label>
              <span>{t('alsaCapture')}</span>
              <select
                value={state.native.input}
                disabled={busy}
                onChange={(e) => backend.setDevices({ input: e.target.value })}
              >
                {withCurrent(state.devices.capture, state.native.input).map((d) => (
                  <option key={d.spec} value={d.spec}>
                    {d.spec === d.description ? d.spec : `${d.spec} — ${d.description}`}
                  </option>
                ))}
              </select>
            </label>
            <label>
              <span>{t('alsaPlayback')}</span>
              <select
                value={state.native.output}
                disabled={busy}
                onChange={(e) => backend.setDevices({ output: e.target.value })}
              >
                {withCurrent(state.devices.playback, state.native.output).map((d) => (
                  <option key={d.spec} value={d.spec}>
                    {d.spec === d.description ? d.spec : `${d.spec} — ${d.description}`}
                  </option>
                ))}
              </select>
            </label>
            <button
              type="button"
              disabled={busy || state.deviceTest?.running === true}
              onClick={() => backend.testDevices()}
            >
              {t('testDevices')}
            </button>
            {state.deviceTest !== null && (
              <p className="small muted" role="status" data-device-test>
                {state.deviceTest.running
                  ? t('testDevicesRunning')
                  : t('testDevicesDone', { peak: (state.deviceTest.peakDb ?? -90).toFixed(0) })}
              </p>
            )}
          </div>
        )}
        {state.mode === 'native' && canConnect && (
          <div className="host-here">
            <p className="muted small">{t('orHost')}</p>
            <button type="button" className="secondary" disabled={busy} onClick={hostHere}>
              {t('hostCall')}
            </button>
            <p className="muted small">{t('hostCallHint')}</p>
          </div>
        )}
        <p className="muted small">
          {state.mode === 'native' ? t('mediaNative') : t('mediaBrowser')}
        </p>
      </form>
    </main>
  );
}

/** The Parloir mark: two speech bubbles. */
export function Logo({ size = 40 }: { size?: number }) {
  return (
    <svg width={size} height={size} viewBox="0 0 40 40" aria-hidden="true">
      <defs>
        <linearGradient id="pl-g" x1="0" y1="0" x2="1" y2="1">
          <stop offset="0" stopColor="#7c5cff" />
          <stop offset="1" stopColor="#22c1c3" />
        </linearGradient>
      </defs>
      <rect x="2" y="4" width="24" height="18" rx="7" fill="url(#pl-g)" />
      <path d="M8 22 l0 6 l6 -6z" fill="#7c5cff" />
      <rect x="14" y="16" width="24" height="18" rx="7" fill="#22c1c3" opacity="0.85" />
      <path d="M32 34 l0 5 l-5 -5z" fill="#22c1c3" opacity="0.85" />
    </svg>
  );
}
