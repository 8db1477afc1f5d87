/** A key press as the screens' key tables read it (DOM-free, so the tables test anywhere). */
export interface KeyPress {
  key: string;
  ctrlKey: boolean;
  metaKey: boolean;
  altKey: boolean;
  /** Typing into a field or an editor: plain letters are text there, not commands. */
  inTextField: boolean;
}
