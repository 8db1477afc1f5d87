import { useEffect, useRef } from 'react';
import { monaco } from './monaco.js';

/**
 * A program in a read-only Monaco editor; `markedLine` (1-based) is highlighted as the line that
 * failed, with the reason on hover. `original` turns it into a side-by-side diff.
 */
export function CodeView({ value, original, markedLine, markReason, dark, label }: {
  value: string; original?: string; markedLine?: number | null; markReason?: string; dark: boolean; label: string;
}) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = host.current;
    if (!el) return undefined;
    const options = { readOnly: true, automaticLayout: true, minimap: { enabled: false }, scrollBeyondLastLine: false, fontSize: 13,
      theme: dark ? 'vs-dark' : 'vs', ariaLabel: label, renderSideBySide: true };
    const modified = monaco.editor.createModel(value, 'python');
    if (original !== undefined) {
      const base = monaco.editor.createModel(original, 'python');
      const diff = monaco.editor.createDiffEditor(el, options);
      diff.setModel({ original: base, modified });
      return () => { diff.dispose(); base.dispose(); modified.dispose(); };
    }
    const editor = monaco.editor.create(el, { ...options, model: modified });
    const decorations = markedLine
      ? editor.createDecorationsCollection([{
        range: new monaco.Range(markedLine, 1, markedLine, 1),
        options: { isWholeLine: true, className: 'failing-line', linesDecorationsClassName: 'failing-line-gutter', hoverMessage: { value: markReason ?? 'this line failed' } },
      }])
      : undefined;
    if (markedLine) editor.revealLineInCenter(markedLine);
    return () => { decorations?.clear(); editor.dispose(); modified.dispose(); };
  }, [value, original, markedLine, markReason, dark, label]);
  return <div className="code-view" ref={host} data-testid={`code-${label}`} />;
}
