/**
 * Call screens: the incoming-call dialog (an overlay, so nothing moves when a call comes in), the
 * outgoing ringing card with [Cancel], and the in-call panel (timer, [Mute], [Hang up], volume,
 * SAS, path, quality badge, charts, suggestions, settings).
 */
import { useEffect, useState, type FormEvent } from 'react';
import type { UiSettings, Grade } from '../app/types.ts';
import { Charts } from './Charts.tsx';
import { withCurrent } from './Connect.tsx';
import { useApp, useAppState, useT } from './context.ts';
import { Avatar, PhoneIcon } from './People.tsx';

/**
 * Grade from MOS, using the ITU-T G.107 Annex B user-satisfaction bands converted from R
 * (R 90/80/70/60 ≈ MOS 4.34/4.03/3.60/3.10).
 */
export function gradeOf(mos: number): Grade {
  if (mos >= 4.34) return 'excellent';
  if (mos >= 4.03) return 'good';
  if (mos >= 3.6) return 'fair';
  if (mos >= 3.1) return 'poor';
  return 'bad';
}

/** The incoming-call dialog. */
export function IncomingCallDialog() {
  const { backend } = useApp();
  const { call } = useAppState();
  const t = useT();
  if (call === null || call.direction !== 'incoming' || call.phase !== 'ringing') return null;
  return (
    <div className="overlay">
      <div
        role="dialog"
        aria-modal="true"
        aria-labelledby="incoming-title"
        className="card dialog incoming"
      >
        <div className="pulse">
          <Avatar name={call.peerName} size={72} />
        </div>
        <p className="muted" id="incoming-title">
          {t('incomingCall')}
        </p>
        <h2>{t('isCalling', { name: call.peerName })}</h2>
        <div className="row center">
          <button type="button" className="danger round-label" onClick={() => backend.refuse()}>
            <PhoneIcon down /> {t('refuse')}
          </button>
          <button
            type="button"
            className="success round-label"
            onClick={() => backend.accept()}
            autoFocus
          >
            <PhoneIcon /> {t('accept')}
          </button>
        </div>
      </div>
    </div>
  );
}

function useNow(intervalMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(id);
  }, [intervalMs]);
  return now;
}

function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const mm = String(Math.floor(s / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return s >= 3600 ? `${Math.floor(s / 3600)}:${mm.slice(-2)}:${ss}` : `${mm}:${ss}`;
}

/** The call card: outgoing ringing, connecting, or in call. */
export function CallPanel() {
  const { backend } = useApp();
  const state = useAppState();
  const t = useT();
  const now = useNow(500);
  const call = state.call;
  if (call === null) return null;
  if (call.direction === 'incoming' && call.phase === 'ringing') return null;

  if (call.phase === 'ringing') {
    return (
      <section
        className="card call-card outgoing"
        aria-label={t('calling', { name: call.peerName })}
      >
        <div className="pulse">
          <Avatar name={call.peerName} size={64} />
        </div>
        <h2>{t('calling', { name: call.peerName })}</h2>
        <p className="muted" role="status">
          {t('ringing')}
        </p>
        <button type="button" className="danger" onClick={() => backend.cancel()}>
          {t('cancel')}
        </button>
      </section>
    );
  }

  const last = state.samples.at(-1);
  const mos = last?.mos ?? null;
  const grade = last?.grade ?? (mos === null ? null : gradeOf(mos));
  return (
    <section
      className="card call-card active"
      aria-label={t('inCallWith', { name: call.peerName })}
    >
      <div className="call-top">
        <Avatar name={call.peerName} size={56} />
        <div className="call-id">
          <h2>{call.peerName}</h2>
          <p className="muted" role="status">
            {call.phase === 'active' && call.activeSinceMs !== undefined ? (
              <span className="timer" data-testid="timer">
                {formatDuration(now - call.activeSinceMs)}
              </span>
            ) : (
              t('connectingMedia')
            )}
          </p>
        </div>
        <div className="call-badges">
          {call.pathRestarting === true ? (
            <span className="pill path-restarting" data-testid="path" title={t('path')}>
              {t('pathRestarting')}
            </span>
          ) : (
            call.path !== undefined && (
              <span className={`pill path-${call.path}`} data-testid="path" title={t('path')}>
                {call.path === 'relay' ? t('pathRelay') : t('pathDirect')}
              </span>
            )
          )}
          {grade !== null && mos !== null && (
            <span className={`pill grade-${grade}`} data-testid="quality" title={t('quality')}>
              {t(`grade_${grade}`)} · MOS {mos.toFixed(1)}
            </span>
          )}
        </div>
      </div>
      {call.peerReconnectingGraceMs !== undefined && (
        <p className="peer-reconnecting" role="status" data-testid="peer-reconnecting">
          <span className="spinner" aria-hidden="true" />{' '}
          {t('peerReconnecting', {
            name: call.peerName,
            seconds: Math.round(call.peerReconnectingGraceMs / 1000),
          })}
        </p>
      )}
      {call.sas !== undefined && (
        <div className="sas" title={t('sasHint')}>
          <span className="muted small">{t('sas')}</span>
          <strong data-testid="sas">{call.sas}</strong>
          <span className="muted small">{t('sasHint')}</span>
        </div>
      )}
      <div className="call-controls">
        <button
          type="button"
          className={call.muted ? 'toggle on' : 'toggle'}
          aria-pressed={call.muted}
          onClick={() => backend.setMuted(!call.muted)}
          title="M"
        >
          <MicIcon off={call.muted} /> {t('mute')}
        </button>
        {state.inputLevelDb !== null && <LevelMeter db={state.inputLevelDb} />}
        <label className="volume">
          <span className="small muted">{t('outputVolume')}</span>
          <input
            type="range"
            min={0}
            max={100}
            value={Math.round(call.volume * 100)}
            aria-label={t('outputVolume')}
            onChange={(e) => backend.setVolume(Number(e.target.value) / 100)}
          />
        </label>
        <button type="button" className="danger" onClick={() => backend.hangUp()}>
          <PhoneIcon down /> {t('hangUp')}
        </button>
      </div>
      <Charts />
      <Suggestions />
      <SettingsPanel />
    </section>
  );
}

function Suggestions() {
  const { backend } = useApp();
  const { suggestions, appliedSuggestions, lang } = useAppState();
  const t = useT();
  return (
    <section className="suggestions" aria-label={t('suggestions')}>
      <h3>{t('suggestions')}</h3>
      {suggestions.length === 0 ? (
        <p className="muted small">{t('noSuggestions')}</p>
      ) : (
        <ul>
          {suggestions.map((s) => {
            const applied = appliedSuggestions.includes(s.id);
            return (
              <li key={s.id} data-suggestion={s.id}>
                <span>{lang === 'fr' ? s.fr : s.en}</span>
                {Object.keys(s.change).length > 0 && (
                  <button
                    type="button"
                    disabled={applied}
                    onClick={() => backend.applySuggestion(s)}
                    aria-label={`${t('apply')}: ${lang === 'fr' ? s.fr : s.en}`}
                  >
                    {applied ? t('applied') : t('apply')}
                  </button>
                )}
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}

function SettingsPanel() {
  const { backend } = useApp();
  const { settings, mode, native, devices } = useAppState();
  const t = useT();
  const [draft, setDraft] = useState<UiSettings>(settings);
  useEffect(() => setDraft(settings), [settings]);
  const num = (k: keyof UiSettings) => (e: { target: { value: string } }) =>
    setDraft((d) => ({ ...d, [k]: Number(e.target.value) }));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const change: UiSettings = {};
    for (const [k, v] of Object.entries(draft) as [keyof UiSettings, unknown][]) {
      if (v !== settings[k]) Object.assign(change, { [k]: v });
    }
    backend.applySettings(change);
  };
  return (
    <details className="settings">
      <summary>{t('settings')}</summary>
      <form onSubmit={submit} className="settings-grid">
        <label>
          <span>{t('bitrate')}</span>
          <input
            type="number"
            min={6}
            max={510}
            step={1}
            value={draft.bitrateKbps ?? ''}
            onChange={num('bitrateKbps')}
          />
        </label>
        <label>
          <span>{t('frameSize')}</span>
          <select value={draft.frameMs ?? 20} onChange={num('frameMs')}>
            {[10, 20, 40, 60].map((v) => (
              <option key={v} value={v}>
                {v}
              </option>
            ))}
          </select>
        </label>
        <label className="check">
          <input
            type="checkbox"
            checked={draft.fec ?? false}
            onChange={(e) => setDraft((d) => ({ ...d, fec: e.target.checked }))}
          />
          <span>{t('fec')}</span>
        </label>
        {mode === 'native' && (
          <>
            {/* The browser's NetEq, DTX policy, gain and adaptation are not settable from a
                page: those fields exist in native mode only (hidden, never shown dead). */}
            <label className="check">
              <input
                type="checkbox"
                checked={draft.dtx ?? false}
                onChange={(e) => setDraft((d) => ({ ...d, dtx: e.target.checked }))}
              />
              <span>{t('dtx')}</span>
            </label>
            <label className="check">
              <input
                type="checkbox"
                checked={draft.adapt ?? false}
                onChange={(e) => setDraft((d) => ({ ...d, adapt: e.target.checked }))}
              />
              <span>{t('adaptation')}</span>
            </label>
            {/* Echo cancellation, noise suppression, AGC on the capture thread (issue 20): on
                by default for an ALSA microphone; they change mid-call. */}
            {(['aec', 'ns', 'agc'] as const).map((k) => (
              <label className="check" key={k}>
                <input
                  type="checkbox"
                  checked={draft[k] ?? false}
                  onChange={(e) => setDraft((d) => ({ ...d, [k]: e.target.checked }))}
                />
                <span>
                  {t(
                    k === 'aec' ? 'echoCancellation' : k === 'ns' ? 'noiseSuppression' : 'autoGain',
                  )}
                </span>
              </label>
            ))}
            <label>
              <span>{t('jbMin')}</span>
              <input
                type="number"
                min={0}
                max={1000}
                value={draft.jbMinMs ?? ''}
                onChange={num('jbMinMs')}
              />
            </label>
            <label>
              <span>{t('jbMax')}</span>
              <input
                type="number"
                min={20}
                max={2000}
                value={draft.jbMaxMs ?? ''}
                onChange={num('jbMaxMs')}
              />
            </label>
            <label>
              <span>{t('alsaPeriod')}</span>
              <input
                type="number"
                min={1}
                max={100}
                value={draft.alsaPeriodMs ?? ''}
                onChange={num('alsaPeriodMs')}
              />
            </label>
            <label>
              <span>{t('inputGain')}</span>
              <input
                type="number"
                min={-60}
                max={30}
                step={1}
                value={draft.gainDb ?? ''}
                onChange={num('gainDb')}
              />
            </label>
            {native !== null && (
              <>
                <label>
                  <span>{t('alsaCapture')}</span>
                  <select
                    value={native.input}
                    onChange={(e) => backend.setDevices({ input: e.target.value })}
                  >
                    {withCurrent(devices.capture, native.input).map((d) => (
                      <option key={d.spec} value={d.spec}>
                        {d.spec}
                      </option>
                    ))}
                  </select>
                </label>
                {native.output.startsWith('alsa:') ? (
                  // The engine moves the call's playback to another ALSA device at once.
                  <label>
                    <span>{t('alsaPlayback')}</span>
                    <select
                      value={native.output}
                      onChange={(e) => backend.setDevices({ output: e.target.value })}
                    >
                      {withCurrent(devices.playback, native.output)
                        .filter((d) => d.spec.startsWith('alsa:'))
                        .map((d) => (
                          <option key={d.spec} value={d.spec}>
                            {d.spec}
                          </option>
                        ))}
                    </select>
                  </label>
                ) : (
                  <p className="muted small devices-now">
                    {t('alsaPlayback')}: <code>{native.output}</code>
                  </p>
                )}
              </>
            )}
          </>
        )}
        <button type="submit" className="primary">
          {t('applySettings')}
        </button>
      </form>
    </details>
  );
}

/** The microphone's peak level over the last second (native engine), −60..0 dBFS. */
function LevelMeter({ db }: { db: number }) {
  const t = useT();
  const clamped = Math.max(-60, Math.min(0, db));
  return (
    <div
      className="level-meter"
      role="meter"
      aria-label={t('micLevel')}
      aria-valuemin={-60}
      aria-valuemax={0}
      aria-valuenow={Math.round(clamped)}
      title={`${db.toFixed(1)} dBFS`}
    >
      <span style={{ width: `${((clamped + 60) / 60) * 100}%` }} />
    </div>
  );
}

function MicIcon({ off }: { off: boolean }) {
  return (
    <svg width="18" height="18" viewBox="0 0 24 24" aria-hidden="true">
      <rect x="9" y="3" width="6" height="11" rx="3" fill="currentColor" />
      <path d="M6 11a6 6 0 0 0 12 0M12 17v4" stroke="currentColor" strokeWidth="2" fill="none" />
      {off && <path d="M4 4l16 16" stroke="currentColor" strokeWidth="2.4" />}
    </svg>
  );
}
