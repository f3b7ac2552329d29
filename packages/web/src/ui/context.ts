/**
 * React glue: the store and backend are provided once at the root; components read state with
 * {@link useAppState} and translate with {@link useT}.
 */
import { createContext, useCallback, useContext, useSyncExternalStore } from 'react';
import type { Backend } from '../app/backend.ts';
import type { AppState, Store } from '../app/store.ts';
import { t, type MsgKey } from '../i18n.ts';

/** What the root provides. */
export interface AppContextValue {
  /** The app store. */
  store: Store;
  /** The active backend. */
  backend: Backend;
}

/** Context carrying store and backend. */
export const AppContext = createContext<AppContextValue | null>(null);

/** The store and backend; throws if used outside the provider (a programming error). */
export function useApp(): AppContextValue {
  const v = useContext(AppContext);
  if (v === null) throw new Error('useApp outside <AppContext>');
  return v;
}

/** Subscribes to the whole state. */
export function useAppState(): AppState {
  const { store } = useApp();
  return useSyncExternalStore(store.subscribe, store.get);
}

/** A translate function bound to the current language. */
export function useT(): (key: MsgKey, vars?: Record<string, string | number>) => string {
  const { lang } = useAppState();
  return useCallback((key, vars) => t(lang, key, vars), [lang]);
}
