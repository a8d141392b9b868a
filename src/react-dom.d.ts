/**
 * The one function of react-dom this extension calls. react-dom is JupyterLab's own shared copy
 * (a core singleton, never bundled here), and its types are not installed: this declares what is
 * used, as react-dom 18 defines it.
 */
declare module 'react-dom' {
  /** Run `fn`, and commit the React updates it makes before returning. */
  export function flushSync<R>(fn: () => R): R;
}
