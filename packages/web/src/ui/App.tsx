/**
 * The app shell: header (status, language, theme, disconnect), reconnect banner, the people list,
 * the call and chat panes, the incoming-call overlay and the call-outcome toast. Also the global
 * behaviour shared by both modes: keyboard shortcuts, ringtone, notifications, theme.
 */
import { useEffect, useRef } from 'react';
import { Ringtone } from '../app/ringtone.ts';
import type { PresenceStatus } from '../app/types.ts';
import type { Lang } from '../i18n.ts';
import { CallPanel, IncomingCallDialog } from './Call.tsx';
import { ChatPanel } from './Chat.tsx';
import { ConnectScreen, Logo, useErrorText } from './Connect.tsx';
import { useApp, useAppState, useT } from './context.ts';
import { CallHistory } from './History.tsx';
import { People, STATUS_KEYS } from './People.tsx';

const STATUSES: PresenceStatus[] = ['available', 'away', 'dnd'];

function Header() {
  const { backend, store } = useApp();
  const state = useAppState();
  const t = useT();
  const connected = state.phase === 'connected' || state.phase === 'reconnecting';
  return (
    <header className="topbar">
      <div className="brand">
        <Logo size={28} />
        <span className="brand-name">Parloir</span>
        <span className="mode-pill small">
          {state.mode === 'native' ? t('nativeMode') : t('browserMode')}
        </span>
      </div>
      <div className="topbar-actions">
        {connected && (
          <>
            <span className="me small">
              {t('you')}: <strong>{state.myName}</strong>
            </span>
            <select
              aria-label={t('myStatus')}
              value={state.myStatus === 'in-call' ? 'available' : state.myStatus}
              onChange={(e) => backend.setStatus(e.target.value as PresenceStatus)}
            >
              {STATUSES.map((s) => (
                <option key={s} value={s}>
                  {t(STATUS_KEYS[s])}
                </option>
              ))}
            </select>
          </>
        )}
        <select
          aria-label={t('language')}
          value={state.lang}
          onChange={(e) => store.update({ lang: e.target.value as Lang })}
        >
          <option value="en">English</option>
          <option value="fr">Français</option>
        </select>
        <button
          type="button"
          className="icon-btn"
          aria-label={`${t('theme')}: ${state.theme === 'dark' ? t('themeLight') : t('themeDark')}`}
          title={t('theme')}
          onClick={() => store.update({ theme: state.theme === 'dark' ? 'light' : 'dark' })}
        >
          {state.theme === 'dark' ? '☀' : '☾'}
        </button>
        {connected && (state.mode === 'browser' || state.native?.canConnect === true) && (
          <button
            type="button"
            className="ghost disconnect"
            aria-label={state.native?.mode === 'host' ? t('stopHosting') : t('disconnect')}
            title={state.native?.mode === 'host' ? t('stopHosting') : t('disconnect')}
            onClick={() => backend.disconnect()}
          >
            <svg width="16" height="16" viewBox="0 0 24 24" aria-hidden="true">
              <path
                d="M12 3v8M6.3 6.3a8 8 0 1 0 11.4 0"
                fill="none"
                stroke="currentColor"
                strokeWidth="2.2"
                strokeLinecap="round"
              />
            </svg>
            <span className="label">
              {state.native?.mode === 'host' ? t('stopHosting') : t('disconnect')}
            </span>
          </button>
        )}
      </div>
    </header>
  );
}

/**
 * A contact's identity key changed (MEDIA_AUTH_ERR_KEY_CHANGED): says what it means and offers to
 * trust the new key once the person has checked it another way. Stays until answered.
 */
function KeyChangedWarning() {
  const { backend, store } = useApp();
  const { changedKey } = useAppState();
  const t = useT();
  if (changedKey === null) return null;
  return (
    <div className="key-changed" role="alert" data-testid="key-changed">
      <p>
        <strong>{t('keyChangedTitle', { name: changedKey.name })}</strong>
      </p>
      <p>{t('keyChangedBody', { name: changedKey.name })}</p>
      <div className="actions">
        <button type="button" className="danger" onClick={() => backend.trustChangedKey()}>
          {t('keyChangedTrust')}
        </button>
        <button type="button" className="ghost" onClick={() => store.update({ changedKey: null })}>
          {t('keyChangedKeepOld')}
        </button>
      </div>
    </div>
  );
}

function OutcomeToast() {
  const { store } = useApp();
  const { lastOutcome, error, phase } = useAppState();
  const t = useT();
  const errorText = useErrorText();
  useEffect(() => {
    if (lastOutcome === null) return;
    const id = setTimeout(() => store.update({ lastOutcome: null }), 6000);
    return () => clearTimeout(id);
  }, [lastOutcome, store]);
  const text =
    lastOutcome !== null
      ? t(`outcome_${lastOutcome.outcome}`, {
          name: lastOutcome.peerName,
          message: lastOutcome.message ?? '',
        })
      : phase === 'connected' && error !== null
        ? errorText(error)
        : null;
  if (text === null) return null;
  return (
    <div className="toast" role="status" data-outcome={lastOutcome?.outcome ?? error?.code}>
      <span>{text}</span>
      <button
        type="button"
        className="icon-btn"
        aria-label={t('dismiss')}
        onClick={() => store.update({ lastOutcome: null, error: null })}
      >
        ×
      </button>
    </div>
  );
}

/** Ringtone while an incoming call rings; a notification when the tab is hidden. */
function useRinging() {
  const { call, lang } = useAppState();
  const t = useT();
  const ringtone = useRef(new Ringtone());
  const ringingId =
    call !== null && call.direction === 'incoming' && call.phase === 'ringing' ? call.id : null;
  const peerName = call?.peerName ?? '';
  useEffect(() => {
    if (ringingId === null) return;
    ringtone.current.start();
    let note: Notification | null = null;
    if (
      typeof Notification !== 'undefined' &&
      document.visibilityState === 'hidden' &&
      Notification.permission === 'granted'
    ) {
      note = new Notification('Parloir', {
        body: t('isCalling', { name: peerName }),
        tag: ringingId,
      });
      note.onclick = () => window.focus();
    }
    const rt = ringtone.current;
    return () => {
      rt.stop();
      note?.close();
    };
  }, [ringingId, peerName, lang, t]);
}

/** Global shortcuts: M toggles mute in a call, Esc closes the top dialog/panel. */
function useShortcuts() {
  const { backend, store } = useApp();
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement | null;
      const typing =
        target !== null &&
        (target.tagName === 'INPUT' || target.tagName === 'TEXTAREA' || target.isContentEditable);
      const s = store.get();
      if (e.key === 'Escape') {
        if (s.call?.direction === 'incoming' && s.call.phase === 'ringing') backend.refuse();
        else if (s.lastOutcome !== null || s.error !== null)
          store.update({ lastOutcome: null, error: s.phase === 'idle' ? s.error : null });
        else if (s.openChat !== null) store.update({ openChat: null });
        return;
      }
      if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
      if ((e.key === 'm' || e.key === 'M') && s.call !== null && s.call.phase !== 'ringing') {
        e.preventDefault();
        backend.setMuted(!s.call.muted);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [backend, store]);
}

/** The whole app. */
export function App() {
  const state = useAppState();
  const t = useT();
  useRinging();
  useShortcuts();
  useEffect(() => {
    document.documentElement.dataset.theme = state.theme;
    document.documentElement.lang = state.lang;
  }, [state.theme, state.lang]);

  // Unread chat as a badge in the window's title too (the people list shows it per person).
  const unreadTotal = Object.values(state.chats).reduce((n, c) => n + c.unread, 0);
  useEffect(() => {
    document.title = unreadTotal > 0 ? `(${unreadTotal}) Parloir` : 'Parloir';
  }, [unreadTotal]);

  const connected = state.phase === 'connected' || state.phase === 'reconnecting';
  const focus = state.call !== null || state.openChat !== null;
  return (
    <div className="app">
      <Header />
      {state.phase === 'reconnecting' && (
        <div className="banner" role="alert">
          <span className="spinner" aria-hidden="true" /> {t('reconnecting')}
        </div>
      )}
      {!connected ? (
        <ConnectScreen />
      ) : (
        <main className={`layout ${focus ? 'focus' : ''}`}>
          <aside className="sidebar">
            <People />
            <CallHistory />
          </aside>
          <div
            className={`content ${state.call !== null && state.openChat !== null ? 'both' : ''}`}
          >
            <CallPanel />
            <ChatPanel />
            {!focus && (
              <div className="placeholder">
                <Logo size={56} />
                <h2>{t('welcome', { name: state.myName })}</h2>
                <p className="muted">{t('pickSomeone')}</p>
                <p className="muted small">{t('shortcuts')}</p>
              </div>
            )}
          </div>
        </main>
      )}
      <IncomingCallDialog />
      <KeyChangedWarning />
      <OutcomeToast />
    </div>
  );
}
