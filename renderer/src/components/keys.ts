import { useEffect } from 'react';
import type { KeyPress } from '../state/key-press.js';

/**
 * Window-wide keyboard handling for a screen: `toAction` maps a press to the screen's action (or
 * null to leave it alone), `run` performs it; a handled key does nothing else.
 */
export function useScreenKeys<A>(toAction: (press: KeyPress) => A | null, run: (action: A) => void, deps: readonly unknown[]): void {
  useEffect(() => {
    const onKey = (e: KeyboardEvent): void => {
      const target = e.target instanceof HTMLElement ? e.target : null;
      const inTextField = target !== null && (target.tagName === 'TEXTAREA' || target.tagName === 'INPUT' || target.closest('.code-view') !== null);
      const action = toAction({ key: e.key, ctrlKey: e.ctrlKey, metaKey: e.metaKey, altKey: e.altKey, inTextField });
      if (action === null) return;
      e.preventDefault();
      run(action);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, deps); // the caller names what its handlers depend on
}
