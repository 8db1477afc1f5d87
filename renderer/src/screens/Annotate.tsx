import { useRef } from 'react';
import { useStore, type StoreApi } from 'zustand';
import { CodeView } from '../components/CodeView.js';
import { useScreenKeys } from '../components/keys.js';
import { KEY_HELP, keyAction, selectPosition, type InboxState } from '../state/inbox.js';

const SAVE_LABEL: Record<InboxState['saveState'], string> = {
  idle: '', pending: 'editing…', saving: 'saving…', saved: 'saved', conflict: 'not saved: changed elsewhere', error: 'not saved',
};

/** One failure: the task, the program with the failing line marked, each test's outcome, and the feedback editor. */
export function Annotate({ inbox, dark }: { inbox: StoreApi<InboxState>; dark: boolean }) {
  const state = useStore(inbox);
  const editor = useRef<HTMLTextAreaElement>(null);
  const position = selectPosition(state);
  const current = state.current;

  useScreenKeys(keyAction, (action) => {
    const s = inbox.getState();
    if (action === 'help') s.toggleHelp();
    else if (action === 'close') { if (s.helpOpen) s.toggleHelp(false); else s.close(); }
    else if (action === 'edit') editor.current?.focus();
    else if (action === 'next' || action === 'skip' || action === 'submit') void s.step(1);
    else void s.step(-1);
  }, [inbox]);

  if (!current) return null;
  const exec = current.execution;
  const others = current.feedback.filter((f) => !(f.source === 'human' && f.author === state.author));
  return (
    <section className="annotate" data-testid="annotate">
      <p className="step">
        Step 3 of the loop: feedback — failure {position.index + 1} of {position.of}. Say what is wrong and how to fix it; it saves as you type.
        Next: refine. <button type="button" onClick={() => state.toggleHelp(true)}>keys (?)</button>
      </p>
      <h2>{current.dataset}/{current.taskId} <small>({current.split})</small></h2>
      <p className="task-text">{current.text}</p>
      <div className="columns">
        <div>
          <h3>The program <small>({exec.errorKind ?? exec.status}{current.failingLine ? `, line ${current.failingLine}` : ''})</small></h3>
          <CodeView value={current.program} markedLine={current.failingLine} markReason={exec.exceptionMessage ?? exec.errorKind ?? 'failed here'} dark={dark} label="program" />
          <h3>Tests</h3>
          <ol className="tests" data-testid="tests">
            {exec.testResults.map((t) => (
              <li key={t.index} className={t.outcome === 'passed' ? 'pass' : 'fail'}>
                <code>{current.tests[t.index]}</code> — {t.outcome.replace('_', ' ')}
                {t.expected != null && t.actual != null && <div className="expected">expected <code>{t.expected}</code>, got <code>{t.actual}</code></div>}
                {t.message && t.outcome !== 'passed' && <div className="hint">{t.message}</div>}
              </li>
            ))}
          </ol>
          {exec.traceback && <pre className="traceback" data-testid="traceback">{exec.traceback}</pre>}
        </div>
        <div>
          <h3>Your feedback</h3>
          {!state.author && (
            <label className="author">Your name (recorded as the author)
              <input aria-label="your name" onBlur={(e) => state.setAuthor(e.target.value)} onKeyDown={(e) => { if (e.key === 'Enter') state.setAuthor((e.target as HTMLInputElement).value); }} />
            </label>
          )}
          <textarea ref={editor} aria-label="feedback" rows={8} value={state.draft} placeholder="What is wrong, and how should it be fixed?"
            onChange={(e) => state.setDraft(e.target.value)} onBlur={() => void state.saveNow()} />
          <div className={`save ${state.saveState}`} data-testid="save-state" role="status">{SAVE_LABEL[state.saveState]}{state.saveMessage ? ` — ${state.saveMessage}` : ''}</div>
          {others.length > 0 && (
            <>
              <h3>Feedback from others</h3>
              <ul className="others">{others.map((f) => <li key={f.id}><b>{f.author}</b> ({f.source}): {f.text}</li>)}</ul>
            </>
          )}
          <p className="nav">
            <button type="button" onClick={() => void state.step(-1)} disabled={position.index <= 0}>← previous</button>
            <button type="button" onClick={() => void state.step(1)} disabled={position.index >= position.of - 1}>next →</button>
            <button type="button" onClick={() => state.close()}>back to the inbox</button>
          </p>
        </div>
      </div>
      {state.helpOpen && (
        <div className="overlay" role="dialog" aria-label="keyboard shortcuts" onClick={() => state.toggleHelp(false)}>
          <table><tbody>{KEY_HELP.map(([k, what]) => <tr key={k}><td><kbd>{k}</kbd></td><td>{what}</td></tr>)}</tbody></table>
        </div>
      )}
    </section>
  );
}
