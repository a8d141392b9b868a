"use strict";(self.rspackChunkjupyter_omniforge=self.rspackChunkjupyter_omniforge||[]).push([[734],{"./node_modules/css-loader/dist/cjs.js!./style/base.css"(o,r,e){var t=e("./node_modules/css-loader/dist/runtime/noSourceMaps.js"),i=e.n(t),n=e("./node_modules/css-loader/dist/runtime/api.js"),a=(e.n(n))()(i());a.push([o.id,`/*
 * OmniForge: every colour is a JupyterLab CSS variable, so the extension follows the theme.
 * (A person's own colour comes from their identity and is set inline.)
 */

/* -- shared ----------------------------------------------------------------------------------- */

.jp-OmniForge-avatar {
  display: inline-flex;
  align-items: center;
  justify-content: center;
  flex: none;
  width: 22px;
  height: 22px;
  border-radius: 50%;
  overflow: hidden;
  font-size: var(--jp-ui-font-size0);
  font-weight: 600;
  color: var(--jp-ui-inverse-font-color0);
  background-color: var(--jp-collaborator-color1);
  border: 1px solid var(--jp-layout-color0);
  box-sizing: border-box;
}

.jp-OmniForge-avatar img {
  width: 100%;
  height: 100%;
  object-fit: cover;
}

.jp-OmniForge-status {
  display: inline-flex;
  align-items: center;
  gap: 4px;
  padding: 1px 8px;
  border-radius: 10px;
  font-size: var(--jp-ui-font-size0);
  color: var(--jp-ui-font-color1);
  background-color: var(--jp-layout-color2);
  white-space: nowrap;
}

.jp-OmniForge-status::before {
  content: '';
  width: 7px;
  height: 7px;
  border-radius: 50%;
  background-color: var(--jp-warn-color1);
}

.jp-OmniForge-status[data-state='connected']::before,
.jp-OmniForge-statusItem[data-state='connected'] .jp-OmniForge-statusDot {
  background-color: var(--jp-success-color1);
}

.jp-OmniForge-status[data-state='offline']::before,
.jp-OmniForge-status[data-state='unavailable']::before,
.jp-OmniForge-statusItem[data-state='offline'] .jp-OmniForge-statusDot,
.jp-OmniForge-statusItem[data-state='unavailable'] .jp-OmniForge-statusDot {
  background-color: var(--jp-error-color1);
}

/* -- sidebar ---------------------------------------------------------------------------------- */

.jp-OmniForge-sidebar {
  background-color: var(--jp-layout-color1);
  color: var(--jp-ui-font-color1);
  font-size: var(--jp-ui-font-size1);
  overflow: hidden;
  min-width: 240px;
}

/* The feed takes the height left and scrolls on its own, so the sections above stay in view
   (the whole body scrolls only when the sidebar is too short for the feed's minimum). */
.jp-OmniForge-sidebar-body {
  display: flex;
  flex-direction: column;
  height: 100%;
  overflow-y: auto;
}

.jp-OmniForge-sidebar-body > * {
  flex: none;
}

.jp-OmniForge-sidebar-body > .jp-OmniForge-feed[data-collapsed='false'] {
  display: flex;
  flex: 1 1 0;
  flex-direction: column;
  min-height: 160px;
}

.jp-OmniForge-feed[data-collapsed='false'] > .jp-OmniForge-sectionBody {
  flex: 1 1 0;
  min-height: 0;
  overflow-y: auto;
}

.jp-OmniForge-rooms .jp-OmniForge-sectionBody,
.jp-OmniForge-people .jp-OmniForge-sectionBody {
  max-height: 30vh;
  overflow-y: auto;
}

.jp-OmniForge-sidebar-header {
  display: flex;
  align-items: center;
  justify-content: space-between;
  padding: 8px 12px;
  border-bottom: var(--jp-border-width) solid var(--jp-border-color2);
}

.jp-OmniForge-title {
  margin: 0;
  font-size: var(--jp-ui-font-size2);
  font-weight: 600;
  color: var(--jp-ui-font-color0);
}

.jp-OmniForge-section {
  padding: 8px 12px;
  border-bottom: var(--jp-border-width) solid var(--jp-border-color2);
}

.jp-OmniForge-sectionTitle {
  display: flex;
  align-items: center;
  justify-content: space-between;
  margin: 0 0 6px;
  font-size: var(--jp-ui-font-size0);
  font-weight: 600;
  letter-spacing: 0.5px;
  text-transform: uppercase;
  color: var(--jp-ui-font-color2);
}

.jp-OmniForge-sectionTitle .jp-OmniForge-status {
  font-weight: normal;
  letter-spacing: normal;
  text-transform: none;
}

/* A section header as in JupyterLab's Running panel: a caret, the title and a count. */
.jp-OmniForge-sectionHeader {
  display: flex;
  align-items: center;
  gap: 4px;
  margin: 0 0 6px;
}

.jp-OmniForge-section[data-collapsed='true'] .jp-OmniForge-sectionHeader {
  margin-bottom: 0;
}

.jp-OmniForge-sectionHeader .jp-OmniForge-sectionTitle {
  flex: 1;
  min-width: 0;
  margin: 0;
}

.jp-OmniForge-sectionToggle {
  display: flex;
  align-items: center;
  gap: 4px;
  width: 100%;
  padding: 2px 0;
  border: none;
  background: none;
  cursor: pointer;
  font: inherit;
  letter-spacing: inherit;
  text-transform: inherit;
  color: inherit;
  text-align: left;
}

.jp-OmniForge-caret svg {
  display: block;
  width: 16px;
  height: 16px;
}

.jp-OmniForge-count {
  margin-left: auto;
  padding: 0 6px;
  border-radius: 8px;
  font-weight: normal;
  color: var(--jp-ui-font-color1);
  background-color: var(--jp-layout-color2);
}

.jp-OmniForge-sectionTools {
  display: flex;
  align-items: center;
  justify-content: flex-end;
  gap: 4px;
  margin: 0 0 4px;
}

.jp-OmniForge-feedFilter.jp-HTMLSelect {
  flex: none;
}

.jp-OmniForge-feedFilter select {
  height: 22px;
  padding-right: 24px;
  font-size: var(--jp-ui-font-size0);
}

.jp-OmniForge-empty,
.jp-OmniForge-hint {
  margin: 4px 0;
  color: var(--jp-ui-font-color2);
}

.jp-OmniForge-hint {
  font-size: var(--jp-ui-font-size0);
  color: var(--jp-warn-color1);
}

.jp-OmniForge-actions {
  display: flex;
  flex-direction: column;
  gap: 6px;
}

.jp-OmniForge-openRoom {
  display: flex;
  gap: 4px;
}

.jp-OmniForge-openRoom-input {
  flex: 1;
  min-width: 0;
  padding: 2px 6px;
  color: var(--jp-ui-font-color0);
  background-color: var(--jp-input-background);
  border: var(--jp-border-width) solid var(--jp-input-border-color);
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-ui-font-size1);
}

.jp-OmniForge-openRoom-input[aria-invalid='true'] {
  border-color: var(--jp-warn-color1);
}

.jp-OmniForge-list {
  list-style: none;
  margin: 0;
  padding: 0;
}

.jp-OmniForge-room,
.jp-OmniForge-collaborator {
  display: flex;
  align-items: center;
  gap: 6px;
  padding: 3px 0;
}

.jp-OmniForge-avatars {
  display: inline-flex;
  margin-left: auto;
}

.jp-OmniForge-avatars .jp-OmniForge-avatar + .jp-OmniForge-avatar {
  margin-left: -3px;
}

.jp-OmniForge-person {
  display: flex;
  flex-direction: column;
  min-width: 0;
}

.jp-OmniForge-name {
  white-space: nowrap;
  overflow: hidden;
  text-overflow: ellipsis;
  color: var(--jp-ui-font-color0);
}

.jp-OmniForge-you {
  color: var(--jp-ui-font-color2);
}

.jp-OmniForge-collaborator .jp-OmniForge-follow {
  margin-left: auto;
  flex: none;
}

/* Offline: the collaborators shown are the last ones heard of. */
.jp-OmniForge-stalePresence {
  margin: 2px 0 4px;
  padding-left: 4px;
  border-left: 3px solid var(--jp-warn-color0);
  font-size: var(--jp-ui-font-size0);
  color: var(--jp-ui-font-color1);
}

.jp-OmniForge-list[data-stale='true'] .jp-OmniForge-avatar {
  filter: grayscale(1);
}

.jp-OmniForge-list[data-stale='true'] .jp-OmniForge-collaborator {
  border-left: 2px dashed var(--jp-border-color2);
  padding-left: 4px;
}

.jp-OmniForge-rooms-of {
  display: flex;
  flex-wrap: wrap;
  gap: 0 6px;
}

.jp-OmniForge-where {
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-ui-font-size0);
  color: var(--jp-ui-font-color2);
}

.jp-OmniForge-link {
  padding: 0;
  text-align: left;
  border: none;
  background: none;
  cursor: pointer;
  color: var(--jp-content-link-color);
}

.jp-OmniForge-link:hover {
  text-decoration: underline;
}

.jp-OmniForge-iconButton {
  display: inline-flex;
  align-items: center;
  justify-content: center;
  flex: none;
  width: 22px;
  height: 22px;
  padding: 0;
  border: none;
  border-radius: var(--jp-border-radius);
  background: none;
  cursor: pointer;
}

.jp-OmniForge-iconButton:hover {
  background-color: var(--jp-layout-color2);
}

.jp-OmniForge-iconButton svg {
  width: 14px;
  height: 14px;
}

.jp-OmniForge-message {
  margin: 12px;
  padding: 10px 12px;
  border-left: 4px solid var(--jp-error-color1);
  background-color: var(--jp-layout-color2);
  color: var(--jp-ui-font-color1);
}

.jp-OmniForge-message[data-kind='forbidden'] {
  border-left-color: var(--jp-warn-color1);
}

.jp-OmniForge-message-title {
  display: block;
  margin-bottom: 4px;
  color: var(--jp-ui-font-color0);
}

/* -- feed ------------------------------------------------------------------------------------- */

.jp-OmniForge-run {
  padding: 6px 0;
  border-top: var(--jp-border-width) solid var(--jp-border-color3);
}

.jp-OmniForge-run:first-child {
  border-top: none;
}

.jp-OmniForge-run-head {
  display: flex;
  align-items: flex-start;
  gap: 6px;
  cursor: pointer; /* a click anywhere on it shows the log */
}

.jp-OmniForge-run-toggle {
  display: flex;
  padding: 0;
  border: none;
  background: none;
  cursor: pointer;
  color: var(--jp-ui-font-color1);
}

/* The whole name, wrapped where it must be: ids are one word, so break anywhere. */
.jp-OmniForge-run-name {
  flex: 1;
  min-width: 0;
  overflow-wrap: anywhere;
  font-family: var(--jp-code-font-family);
  color: var(--jp-ui-font-color0);
}

.jp-OmniForge-run-dismiss.jp-ToolbarButtonComponent {
  min-height: 20px;
  height: 20px;
  padding: 0 2px;
}

.jp-OmniForge-run-meta {
  display: flex;
  flex-wrap: wrap;
  align-items: center;
  gap: 6px;
  margin-left: 22px;
  font-size: var(--jp-ui-font-size0);
  color: var(--jp-ui-font-color1);
}

.jp-OmniForge-run-by {
  overflow-wrap: anywhere;
}

.jp-OmniForge-run-kind {
  color: var(--jp-ui-font-color1);
}

/* The state in the theme's text colour, marked by a coloured dot: white on the theme's green or
   orange is below 4.5:1, and these pills are small text. */
.jp-OmniForge-run-state {
  display: inline-flex;
  align-items: center;
  gap: 4px;
  padding: 0 6px;
  border-radius: 8px;
  font-size: var(--jp-ui-font-size0);
  white-space: nowrap;
  color: var(--jp-ui-font-color0);
  background-color: var(--jp-layout-color2);
}

.jp-OmniForge-run-state::before {
  content: '';
  width: 7px;
  height: 7px;
  border-radius: 50%;
  background-color: var(--jp-ui-font-color2);
}

.jp-OmniForge-run-state[data-state='running']::before {
  background-color: var(--jp-brand-color1);
}

.jp-OmniForge-run-state[data-state='completed']::before {
  background-color: var(--jp-success-color1);
}

.jp-OmniForge-run-state[data-state='failed']::before {
  background-color: var(--jp-error-color1);
}

.jp-OmniForge-run-state[data-state='stale']::before {
  background-color: var(--jp-warn-color1);
}

.jp-OmniForge-run-elapsed {
  font-size: var(--jp-ui-font-size0);
  color: var(--jp-ui-font-color1);
  font-variant-numeric: tabular-nums;
}

.jp-OmniForge-progress {
  height: 6px;
  margin: 4px 0 2px 22px;
  border-radius: 3px;
  overflow: hidden;
  background-color: var(--jp-layout-color3);
}

.jp-OmniForge-progress-bar {
  height: 100%;
  background-color: var(--jp-brand-color1);
  transition: width 0.2s ease-out;
}

.jp-OmniForge-run[data-state='completed'] .jp-OmniForge-progress-bar {
  background-color: var(--jp-success-color1);
}

.jp-OmniForge-run[data-state='failed'] .jp-OmniForge-progress-bar {
  background-color: var(--jp-error-color1);
}

/* A failure shows red however far it got (a failure at 0% has no bar of its own): the track is
   the error colour, the part done before the failure the stronger one. */
.jp-OmniForge-run[data-state='failed'] .jp-OmniForge-progress {
  background-color: var(--jp-error-color2);
}

.jp-OmniForge-run[data-stale='true'] .jp-OmniForge-progress-bar {
  background-color: var(--jp-warn-color1);
}

.jp-OmniForge-run-message {
  margin-left: 22px;
  overflow: hidden;
  text-overflow: ellipsis;
  white-space: nowrap;
  font-size: var(--jp-ui-font-size0);
  color: var(--jp-ui-font-color1);
}

.jp-OmniForge-run-failure {
  margin: 2px 0 0 22px;
}

.jp-OmniForge-run-error {
  margin: 0;
  white-space: pre-wrap;
  overflow-wrap: anywhere;
  font-size: var(--jp-ui-font-size0);
  color: var(--jp-error-color0);
}

/* The darker red reads on a light background, the lighter one on a dark background. */
body[data-jp-theme-light='false'] .jp-OmniForge-run-error {
  color: var(--jp-error-color2);
}

/* A long error shows its first lines until expanded. */
.jp-OmniForge-run-error[data-expanded='false'] {
  display: -webkit-box;
  -webkit-box-orient: vertical;
  -webkit-line-clamp: 2;
  line-clamp: 2;
  overflow: hidden;
}

.jp-OmniForge-run-errorToggle.jp-Button {
  padding: 0 4px;
  font-size: var(--jp-ui-font-size0);
  color: var(--jp-content-link-color);
}

.jp-OmniForge-run-log {
  max-height: 200px;
  overflow-y: auto;
  margin: 4px 0 0 22px;
  padding: 4px 6px;
  list-style: none;
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-ui-font-size0);
  background-color: var(--jp-layout-color2);
  color: var(--jp-ui-font-color1);
  white-space: pre-wrap; /* lines of output keep their indentation */
  word-break: break-word;
}

.jp-OmniForge-run-log time,
.jp-OmniForge-run-logType {
  color: var(--jp-ui-font-color1);
}

/* -- room editor ------------------------------------------------------------------------------ */

.jp-OmniForge-RoomEditor {
  display: flex;
  flex-direction: column;
  background-color: var(--jp-layout-color0);
}

.jp-OmniForge-RoomEditor-header {
  display: flex;
  align-items: center;
  gap: 8px;
  padding: 4px 8px;
  border-bottom: var(--jp-border-width) solid var(--jp-border-color2);
  background-color: var(--jp-toolbar-background);
  color: var(--jp-ui-font-color1);
}

.jp-OmniForge-RoomEditor-room {
  font-family: var(--jp-code-font-family);
  font-weight: 600;
}

.jp-OmniForge-RoomEditor-hint {
  overflow: hidden;
  text-overflow: ellipsis;
  white-space: nowrap;
  font-size: var(--jp-ui-font-size0);
  color: var(--jp-ui-font-color2);
}

.jp-OmniForge-RoomEditor-people {
  display: inline-flex;
  gap: 2px;
  margin-left: auto;
}

.jp-OmniForge-readOnly {
  display: inline-flex;
  align-items: center;
  gap: 3px;
  padding: 1px 8px;
  border-radius: 10px;
  font-size: var(--jp-ui-font-size0);
  color: var(--jp-ui-font-color1);
  background-color: var(--jp-warn-color3);
  border: var(--jp-border-width) solid var(--jp-warn-color1);
  cursor: help;
  white-space: nowrap;
}

.jp-OmniForge-readOnly[hidden] {
  display: none;
}

.jp-OmniForge-readOnly-icon svg {
  display: block;
  width: 12px;
  height: 12px;
}

.jp-OmniForge-notice {
  padding: 4px 8px;
  color: var(--jp-ui-font-color1);
  background-color: var(--jp-warn-color3);
}

.jp-OmniForge-RoomEditor-editor {
  flex: 1;
  min-height: 0;
  overflow: auto;
}

.jp-OmniForge-RoomEditor-editor .cm-editor {
  height: 100%;
}

/* Room for the name labels above the first line. */
.jp-OmniForge-RoomEditor-editor .cm-content {
  padding-top: 1.2em;
}

/*
 * A remote caret's name shows on hover, and for a moment after it moves (cursors.ts adds
 * jp-mod-recent): always on, labels hide the code they sit over. Its text colour is set
 * inline, black or white by contrast with the person's colour.
 */
.jp-OmniForge-RoomEditor .cm-ySelectionInfo {
  opacity: 0;
  max-width: 24ch;
  overflow: hidden;
  text-overflow: ellipsis;
  font-family: var(--jp-ui-font-family);
  pointer-events: none;
}

.jp-OmniForge-RoomEditor .cm-ySelectionCaret:hover > .cm-ySelectionInfo,
.jp-OmniForge-RoomEditor .cm-ySelectionInfo.jp-mod-recent {
  opacity: 1;
}

/* The \`cursorLabels\` setting (plugins/cursorlabels.ts marks the editor's widget with it). */
[data-omniforge-cursor-labels='always'] .jp-OmniForge-RoomEditor .cm-ySelectionInfo {
  opacity: 1;
}

[data-omniforge-cursor-labels='never']
  .jp-OmniForge-RoomEditor
  .cm-ySelectionCaret:hover
  > .cm-ySelectionInfo,
[data-omniforge-cursor-labels='never'] .jp-OmniForge-RoomEditor .cm-ySelectionInfo.jp-mod-recent {
  opacity: 0;
}

/* A caret is 2px wide: a wider, invisible target to hover. */
.jp-OmniForge-RoomEditor .cm-ySelectionCaret::before {
  content: '';
  position: absolute;
  inset: 0 -4px;
}

/* -- share dialog --------------------------------------------------------------------------- */

.jp-OmniForge-share {
  max-width: 560px;
  color: var(--jp-ui-font-color1);
  font-size: var(--jp-ui-font-size1);
}

.jp-OmniForge-share-form {
  display: flex;
  flex-direction: column;
  gap: 10px;
}

.jp-OmniForge-share-mode {
  display: flex;
  flex-direction: column;
  gap: 4px;
  margin: 0;
  padding: 6px 10px;
  border: var(--jp-border-width) solid var(--jp-border-color2);
  border-radius: var(--jp-border-radius);
}

.jp-OmniForge-share-field {
  display: flex;
  flex-direction: column;
  gap: 4px;
}

.jp-OmniForge-share-linkRow {
  display: flex;
  gap: 6px;
}

.jp-OmniForge-share-link {
  flex: 1;
  min-width: 0;
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
}

.jp-OmniForge-share-copy {
  display: inline-flex;
  align-items: center;
  gap: 4px;
}

.jp-OmniForge-share-copyIcon svg {
  display: block;
  width: 14px;
  height: 14px;
}

.jp-OmniForge-share-copied,
.jp-OmniForge-share-revoke {
  font-size: var(--jp-ui-font-size0);
  color: var(--jp-ui-font-color2);
}

.jp-OmniForge-share-warning {
  padding: 4px 8px;
  background-color: var(--jp-warn-color3);
  border-left: 3px solid var(--jp-warn-color1);
}

.jp-OmniForge-share-snippet {
  margin: 0;
  padding: 8px;
  overflow: auto;
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
  color: var(--jp-content-font-color1);
  background-color: var(--jp-layout-color2);
  border-radius: var(--jp-border-radius);
  white-space: pre;
}

/* -- status bar ------------------------------------------------------------------------------- */

.jp-OmniForge-statusItem {
  display: flex;
  align-items: center;
  gap: 4px;
  padding: 0 5px;
  cursor: pointer;
  color: var(--jp-ui-font-color1);
  font-size: var(--jp-ui-font-size1);
}

.jp-OmniForge-statusDot {
  width: 7px;
  height: 7px;
  border-radius: 50%;
  background-color: var(--jp-warn-color1);
}

/* -- "New … room" prompt (roomname.ts) --------------------------------------------------------- */

.jp-OmniForge-roomName-problem {
  min-height: 1.5em;
  margin: 6px 0 0;
  max-width: 40ch;
  color: var(--jp-error-color0);
}

body[data-jp-theme-light='false'] .jp-OmniForge-roomName-problem {
  color: var(--jp-error-color2);
}

/*
 * Text that acts (links, quotes, section and log toggles) drawn by ui-components' Button: its
 * focus ring and hover, at the size of the text around it, not of a 30 px toolbar button.
 */
.jp-Button.jp-OmniForge-link,
.jp-Button.jp-OmniForge-quote,
.jp-Button.jp-OmniForge-sectionToggle,
.jp-Button.jp-OmniForge-run-toggle,
.jp-Button.jp-OmniForge-iconButton,
.jp-Button.jp-OmniForge-reaction {
  min-width: 0;
  min-height: 0;
}

.jp-Button.jp-OmniForge-link,
.jp-Button.jp-OmniForge-quote,
.jp-Button.jp-OmniForge-sectionToggle {
  justify-content: flex-start;
}

.jp-Button.jp-OmniForge-link {
  padding: 0 2px;
  color: var(--jp-content-link-color);
  font-size: inherit;
}

.jp-Button.jp-OmniForge-where {
  font-size: var(--jp-ui-font-size0);
}

/* Secondary actions (Reply, Resolve, Cancel, Show more): outlined, in the text's colour. */
.jp-Button.jp-OmniForge-secondary {
  border: var(--jp-border-width) solid var(--jp-border-color1);
  color: var(--jp-ui-font-color1);
}
`,""]),e.d(r,{},{A:a})},"./node_modules/css-loader/dist/cjs.js!./style/comments.css"(o,r,e){var t=e("./node_modules/css-loader/dist/runtime/noSourceMaps.js"),i=e.n(t),n=e("./node_modules/css-loader/dist/runtime/api.js"),a=(e.n(n))()(i());a.push([o.id,`/*
 * Comments in the room editor: highlighted ranges, gutter markers, and the Comments panel.
 * Every colour is a JupyterLab variable, so both themes read well.
 */

/* The editor and its side panels (comments, history) in a row, below the header. */
.jp-OmniForge-RoomEditor-body {
  display: flex;
  flex: 1;
  min-height: 0;
}

.jp-OmniForge-RoomEditor-body > .jp-OmniForge-RoomEditor-editor {
  flex: 1;
  min-width: 0;
}

/* -- in the editor ---------------------------------------------------------------------------- */

/* Translucent: the code keeps the theme's own colours on it, light or dark. */
.jp-OmniForge-commentRange {
  background-color: color-mix(in srgb, var(--jp-warn-color1) 22%, transparent);
  border-bottom: 2px solid var(--jp-warn-color1);
  cursor: pointer;
}

.jp-OmniForge-commentRange.jp-mod-active {
  background-color: color-mix(in srgb, var(--jp-brand-color1) 28%, transparent);
  border-bottom-color: var(--jp-brand-color1);
}

.jp-OmniForge-commentGutter {
  width: 14px;
}

.jp-OmniForge-commentMarker {
  display: inline-block;
  width: 10px;
  height: 10px;
  margin-top: 3px;
  border-radius: 2px 2px 2px 0;
  background-color: var(--jp-warn-color1);
  color: var(--jp-ui-inverse-font-color0);
  font-size: 8px;
  line-height: 10px;
  text-align: center;
  cursor: pointer;
}

/* -- the panel -------------------------------------------------------------------------------- */

.jp-OmniForge-comments {
  flex: 0 0 300px;
  min-width: 0;
  overflow: auto;
  border-left: var(--jp-border-width) solid var(--jp-border-color2);
  background-color: var(--jp-layout-color1);
  color: var(--jp-ui-font-color1);
  font-size: var(--jp-ui-font-size1);
}

.jp-OmniForge-comments.lm-mod-hidden {
  display: none;
}

.jp-OmniForge-comments-body {
  display: flex;
  flex-direction: column;
  gap: 8px;
  padding: 8px;
}

.jp-OmniForge-comments-header {
  display: flex;
  align-items: center;
  justify-content: space-between;
  gap: 8px;
}

.jp-OmniForge-comments-title,
.jp-OmniForge-comments-sectionTitle {
  margin: 0;
  font-size: var(--jp-ui-font-size1);
  font-weight: 600;
  color: var(--jp-ui-font-color0);
}

.jp-OmniForge-comments-sectionTitle .jp-OmniForge-sectionToggle {
  color: var(--jp-ui-font-color0);
  font-weight: 600;
}

.jp-OmniForge-comments-error {
  margin: 0;
  padding: 4px 6px;
  color: var(--jp-ui-font-color0);
  background-color: var(--jp-error-color3);
  border-left: 3px solid var(--jp-error-color1);
}

.jp-OmniForge-threads,
.jp-OmniForge-commentList {
  margin: 0;
  padding: 0;
  list-style: none;
  display: flex;
  flex-direction: column;
  gap: 8px;
}

/* A long list lays out and paints only the cards on screen (the first ones always are). */
.jp-OmniForge-threads > .jp-OmniForge-thread:nth-child(n + 9) {
  content-visibility: auto;
  contain-intrinsic-size: auto 140px;
}

.jp-OmniForge-thread {
  padding: 6px 8px;
  border: var(--jp-border-width) solid var(--jp-border-color2);
  border-radius: 4px;
  background-color: var(--jp-layout-color0);
}

.jp-OmniForge-thread.jp-mod-active {
  border-color: var(--jp-brand-color1);
  box-shadow: 0 0 0 1px var(--jp-brand-color1);
}

/* Drawn in full a frame later (panel.tsx, FIRST_DRAWN): about a card's height meanwhile. */
.jp-OmniForge-thread.jp-mod-pending {
  min-height: 96px;
}

.jp-OmniForge-thread[data-resolved='true'] .jp-OmniForge-quote {
  text-decoration: line-through;
}

.jp-OmniForge-quote {
  display: block;
  box-sizing: border-box;
  width: 100%;
  margin: 0 0 6px;
  padding: 2px 6px;
  border: none;
  border-left: 3px solid var(--jp-warn-color1);
  background-color: var(--jp-layout-color2);
  color: var(--jp-ui-font-color1);
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
  text-align: left;
  white-space: pre-wrap;
  word-break: break-word;
  max-height: 6em;
  overflow: hidden;
}

button.jp-OmniForge-quote {
  cursor: pointer;
}

.jp-OmniForge-roomWide {
  font-family: var(--jp-ui-font-family);
  font-style: italic;
}

.jp-OmniForge-comment + .jp-OmniForge-comment {
  padding-top: 6px;
  border-top: var(--jp-border-width) solid var(--jp-border-color2);
}

.jp-OmniForge-commentHead {
  display: flex;
  align-items: center;
  gap: 6px;
  flex-wrap: wrap;
}

.jp-OmniForge-commentHead .jp-OmniForge-avatar {
  width: 18px;
  height: 18px;
  font-size: 8px;
}

.jp-OmniForge-commentAuthor {
  font-weight: 600;
  color: var(--jp-ui-font-color0);
}

.jp-OmniForge-commentTime,
.jp-OmniForge-commentEdited {
  font-size: var(--jp-ui-font-size0);
  color: var(--jp-ui-font-color1);
}

.jp-OmniForge-commentBody {
  margin: 4px 0;
  color: var(--jp-content-font-color1);
  word-break: break-word;
}

.jp-OmniForge-commentBody p {
  margin: 0 0 4px;
}

/* Underlined: a link in a sentence is not told by its colour alone. */
.jp-OmniForge-commentBody a {
  color: var(--jp-content-link-color);
  text-decoration: underline;
}

.jp-OmniForge-commentBody code,
.jp-OmniForge-commentBody pre {
  font-family: var(--jp-code-font-family);
  background-color: var(--jp-layout-color2);
}

.jp-OmniForge-reactions,
.jp-OmniForge-reactionPicker,
.jp-OmniForge-composerButtons,
.jp-OmniForge-threadActions {
  display: flex;
  flex-wrap: wrap;
  align-items: center;
  gap: 4px;
}

.jp-OmniForge-threadActions {
  margin-top: 6px;
}

.jp-OmniForge-reaction {
  padding: 0 6px;
  border: var(--jp-border-width) solid var(--jp-border-color1);
  border-radius: 10px;
  background-color: var(--jp-layout-color1);
  color: var(--jp-ui-font-color0);
  font-size: var(--jp-ui-font-size1);
  cursor: pointer;
}

/* The theme's blue mixed into its background: readable text in the light and the dark theme. */
.jp-OmniForge-reaction[aria-pressed='true'] {
  border-color: var(--jp-brand-color1);
  background-color: color-mix(in srgb, var(--jp-brand-color1) 25%, var(--jp-layout-color1));
}

.jp-OmniForge-addReaction.jp-OmniForge-iconButton {
  width: auto;
  padding: 0 4px;
  white-space: nowrap;
  color: var(--jp-ui-font-color1);
  font-size: var(--jp-ui-font-size1);
}

.jp-OmniForge-composer {
  position: relative;
  display: flex;
  flex-direction: column;
  gap: 4px;
  flex: 1 1 100%;
}

.jp-OmniForge-composerInput {
  box-sizing: border-box;
  width: 100%;
  resize: vertical;
  padding: 4px 6px;
  border: var(--jp-border-width) solid var(--jp-input-border-color);
  border-radius: 2px;
  background-color: var(--jp-input-background);
  color: var(--jp-ui-font-color0);
  font-family: var(--jp-ui-font-family);
  font-size: var(--jp-ui-font-size1);
}

.jp-OmniForge-composerInput::placeholder {
  color: var(--jp-ui-font-color2);
}

.jp-OmniForge-composerInput:focus {
  outline: 1px solid var(--jp-brand-color1);
}

.jp-OmniForge-mentionList {
  position: absolute;
  z-index: 10;
  top: 100%;
  left: 0;
  right: 0;
  margin: 2px 0 0;
  padding: 2px 0;
  list-style: none;
  border: var(--jp-border-width) solid var(--jp-border-color1);
  background-color: var(--jp-layout-color0);
  box-shadow: var(--jp-elevation-z4);
}

.jp-OmniForge-mentionOption {
  padding: 2px 8px;
  color: var(--jp-ui-font-color0);
  cursor: pointer;
}

.jp-OmniForge-mentionOption[aria-selected='true'] {
  background-color: color-mix(in srgb, var(--jp-brand-color1) 25%, var(--jp-layout-color0));
}

.jp-OmniForge-mentionUser {
  color: var(--jp-ui-font-color1);
}

/* -- mentions in the sidebar ------------------------------------------------------------------- */

.jp-OmniForge-mentionOpen {
  display: flex;
  flex-direction: column;
  align-items: flex-start;
  text-align: left;
}

.jp-OmniForge-mentionExcerpt {
  color: var(--jp-ui-font-color1);
  font-size: var(--jp-ui-font-size0);
}

/* The number of unread mentions on the sidebar's tab. */
.jp-SideBar .lm-TabBar-tab[data-unread] {
  position: relative;
}

.jp-SideBar .lm-TabBar-tab[data-unread]::after {
  content: attr(data-unread);
  position: absolute;
  top: 2px;
  right: 2px;
  min-width: 14px;
  padding: 0 3px;
  border-radius: 7px;
  box-sizing: border-box;
  background-color: var(--jp-error-color1);
  color: #fff;
  font-size: 9px;
  line-height: 14px;
  text-align: center;
}
`,""]),e.d(r,{},{A:a})},"./node_modules/css-loader/dist/cjs.js!./style/editor.css"(o,r,e){var t=e("./node_modules/css-loader/dist/runtime/noSourceMaps.js"),i=e.n(t),n=e("./node_modules/css-loader/dist/runtime/api.js"),a=(e.n(n))()(i());a.push([o.id,`/*
 * The room editor is JupyterLab's own code editor, in the user's theme. A few of the stock
 * themes' token colours fall short of WCAG AA (4.5:1) on the editor's background; in the room
 * editor they are the same hues, darkened (light theme) or lightened (dark theme) just enough.
 */
body[data-jp-theme-name='JupyterLab Light'] .jp-OmniForge-RoomEditor {
  --jp-mirror-editor-atom-color: #6a6ac7; /* #88f: 2.99:1 on white */
  --jp-mirror-editor-bracket-color: #76765c; /* #997: 2.93:1 */
  --jp-mirror-editor-quote-color: #008800; /* #090: 3.78:1 */
}

body[data-jp-theme-name='JupyterLab Dark'] .jp-OmniForge-RoomEditor {
  --jp-mirror-editor-comment-color: #4b8888; /* #408080: 4.15:1 on #111 */
  --jp-mirror-editor-link-color: #2980d5; /* #1976d2: 4.10:1 */
  --jp-mirror-editor-meta-color: #b53fff; /* #a2f: 3.94:1 */
}

.jp-OmniForge-languageSelect {
  display: flex;
  align-items: center;
}
`,""]),e.d(r,{},{A:a})},"./node_modules/css-loader/dist/cjs.js!./style/history.css"(o,r,e){var t=e("./node_modules/css-loader/dist/runtime/noSourceMaps.js"),i=e.n(t),n=e("./node_modules/css-loader/dist/runtime/api.js"),a=(e.n(n))()(i());a.push([o.id,`/* -- the History panel of a room editor (src/history/) ----------------------------------------- */

.jp-OmniForge-History {
  display: flex;
  flex-direction: column;
  min-width: 240px;
  min-height: 0;
  overflow: hidden;
  color: var(--jp-ui-font-color1);
  background-color: var(--jp-layout-color1);
  font-size: var(--jp-ui-font-size1);
}

/* Beside the editor (the room editor's side panels): a column of its own. */
.jp-OmniForge-RoomEditor .jp-OmniForge-History {
  flex: 0 0 clamp(260px, 38%, 460px);
  border-left: var(--jp-border-width) solid var(--jp-border-color2);
}

.jp-OmniForge-History-bar,
.jp-OmniForge-History-detailBar {
  display: flex;
  flex-wrap: wrap;
  align-items: center;
  gap: 6px;
  padding: 6px 8px;
  border-bottom: var(--jp-border-width) solid var(--jp-border-color2);
  background-color: var(--jp-toolbar-background);
}

.jp-OmniForge-History-close {
  margin-left: auto;
}

.jp-OmniForge-History-button {
  padding: 2px 10px;
  border: var(--jp-border-width) solid var(--jp-border-color1);
  border-radius: var(--jp-border-radius);
  color: var(--jp-ui-font-color1);
  background-color: var(--jp-layout-color1);
  font: inherit;
  cursor: pointer;
}

.jp-OmniForge-History-button:hover {
  background-color: var(--jp-layout-color2);
}

.jp-OmniForge-History-button:focus-visible,
.jp-OmniForge-History-list:focus-visible {
  outline: 2px solid var(--jp-brand-color1);
  outline-offset: 1px;
}

.jp-OmniForge-History-restore {
  border-color: var(--jp-brand-color1);
}

.jp-OmniForge-History-changes[aria-pressed='true'] {
  background-color: var(--jp-layout-color3);
}

/* Greyed out, yet focusable: its tooltip says why (and aria-describedby, for screen readers). */
.jp-OmniForge-History-button[aria-disabled='true'] {
  color: var(--jp-ui-font-color3);
  border-style: dashed;
  border-color: var(--jp-border-color2);
  background-color: var(--jp-layout-color2);
  cursor: not-allowed;
}

.jp-OmniForge-History-reason,
.jp-OmniForge-History-empty,
.jp-OmniForge-History-status,
.jp-OmniForge-History-legend {
  margin: 0;
  padding: 4px 8px;
  font-size: var(--jp-ui-font-size0);
  color: var(--jp-ui-font-color1);
}

.jp-OmniForge-History-reason {
  background-color: var(--jp-warn-color3);
}

.jp-OmniForge-History-status:empty {
  display: none;
}

.jp-OmniForge-History-status[data-kind='error'] {
  background-color: var(--jp-error-color3);
}

.jp-OmniForge-History-list {
  flex: 0 1 auto;
  max-height: 40%;
  min-height: 3em;
  overflow-y: auto;
  margin: 0;
  padding: 0;
  list-style: none;
  border-bottom: var(--jp-border-width) solid var(--jp-border-color2);
}

.jp-OmniForge-History-list[hidden] {
  display: none;
}

.jp-OmniForge-History-version {
  position: relative;
  display: grid;
  grid-template-columns: 1fr auto;
  gap: 0 6px;
  padding: 4px 8px 4px 5px;
  border-left: 3px solid transparent;
  cursor: pointer;
}

.jp-OmniForge-History-version:hover {
  background-color: var(--jp-layout-color2);
}

.jp-OmniForge-History-version[aria-selected='true'] {
  border-left-color: var(--jp-brand-color1);
  background-color: var(--jp-layout-color3);
}

.jp-OmniForge-History-time {
  font-size: var(--jp-ui-font-size0);
  color: var(--jp-ui-font-color1);
}

.jp-OmniForge-History-label {
  grid-column: 1;
  overflow: hidden;
  text-overflow: ellipsis;
  white-space: nowrap;
}

.jp-OmniForge-History-version[data-kind='named'] .jp-OmniForge-History-label {
  font-weight: 600;
}

.jp-OmniForge-History-version .jp-OmniForge-avatars {
  grid-column: 2;
  grid-row: 1 / span 2;
  align-self: center;
}

.jp-OmniForge-History-srOnly {
  position: absolute;
  width: 1px;
  height: 1px;
  overflow: hidden;
  clip-path: inset(50%);
  white-space: nowrap;
}

.jp-OmniForge-History-more {
  align-self: center;
  margin: 4px;
}

.jp-OmniForge-History-more[hidden],
.jp-OmniForge-History-detail[hidden] {
  display: none;
}

.jp-OmniForge-History-detail {
  display: flex;
  flex: 1 1 auto;
  flex-direction: column;
  min-height: 0;
}

.jp-OmniForge-History-title {
  flex: 1 1 auto;
  font-weight: 600;
}

.jp-OmniForge-History-view {
  flex: 1 1 auto;
  min-height: 0;
  overflow: auto;
}

.jp-OmniForge-History-view .cm-editor {
  height: 100%;
}

/*
 * What changed since the version: tinted, the text in the theme's own colour (readable in light
 * and dark), deletions struck through; the line under a piece is in its author's colour.
 */
ins.jp-OmniForge-History-inserted,
del.jp-OmniForge-History-deleted {
  color: inherit;
  border-bottom: 2px solid var(--jp-omniforge-author-color, transparent);
}

ins.jp-OmniForge-History-inserted {
  text-decoration: none;
  background-color: color-mix(in srgb, var(--jp-success-color1) 25%, transparent);
}

del.jp-OmniForge-History-deleted {
  text-decoration: line-through;
  background-color: color-mix(in srgb, var(--jp-error-color1) 25%, transparent);
}

.jp-OmniForge-History-added,
.jp-OmniForge-History-removed {
  padding: 0 4px;
  border-radius: 2px;
}

.jp-OmniForge-History-added {
  background-color: color-mix(in srgb, var(--jp-success-color1) 25%, transparent);
}

.jp-OmniForge-History-removed {
  background-color: color-mix(in srgb, var(--jp-error-color1) 25%, transparent);
}
`,""]),e.d(r,{},{A:a})},"./node_modules/css-loader/dist/runtime/api.js"(o){o.exports=function(o){var r=[];return r.toString=function(){return this.map(function(r){var e="",t=void 0!==r[5];return r[4]&&(e+="@supports (".concat(r[4],") {")),r[2]&&(e+="@media ".concat(r[2]," {")),t&&(e+="@layer".concat(r[5].length>0?" ".concat(r[5]):""," {")),e+=o(r),t&&(e+="}"),r[2]&&(e+="}"),r[4]&&(e+="}"),e}).join("")},r.i=function(o,e,t,i,n){"string"==typeof o&&(o=[[null,o,void 0]]);var a={};if(t)for(var l=0;l<this.length;l++){var p=this[l][0];null!=p&&(a[p]=!0)}for(var s=0;s<o.length;s++){var d=[].concat(o[s]);t&&a[d[0]]||(void 0!==n&&(void 0===d[5]||(d[1]="@layer".concat(d[5].length>0?" ".concat(d[5]):""," {").concat(d[1],"}")),d[5]=n),e&&(d[2]&&(d[1]="@media ".concat(d[2]," {").concat(d[1],"}")),d[2]=e),i&&(d[4]?(d[1]="@supports (".concat(d[4],") {").concat(d[1],"}"),d[4]=i):d[4]="".concat(i)),r.push(d))}},r}},"./node_modules/css-loader/dist/runtime/noSourceMaps.js"(o){o.exports=function(o){return o[1]}},"./node_modules/style-loader/dist/runtime/injectStylesIntoStyleTag.js"(o){var r=[];function e(o){for(var e=-1,t=0;t<r.length;t++)if(r[t].identifier===o){e=t;break}return e}function t(o,t){for(var i={},n=[],a=0;a<o.length;a++){var l=o[a],p=t.base?l[0]+t.base:l[0],s=i[p]||0,d="".concat(p," ").concat(s);i[p]=s+1;var c=e(d),m={css:l[1],media:l[2],sourceMap:l[3],supports:l[4],layer:l[5]};if(-1!==c)r[c].references++,r[c].updater(m);else{var g=function(o,r){var e=r.domAPI(r);return e.update(o),function(r){r?(r.css!==o.css||r.media!==o.media||r.sourceMap!==o.sourceMap||r.supports!==o.supports||r.layer!==o.layer)&&e.update(o=r):e.remove()}}(m,t);t.byIndex=a,r.splice(a,0,{identifier:d,updater:g,references:1})}n.push(d)}return n}o.exports=function(o,i){var n=t(o=o||[],i=i||{});return function(o){o=o||[];for(var a=0;a<n.length;a++){var l=e(n[a]);r[l].references--}for(var p=t(o,i),s=0;s<n.length;s++){var d=e(n[s]);0===r[d].references&&(r[d].updater(),r.splice(d,1))}n=p}}},"./node_modules/style-loader/dist/runtime/insertBySelector.js"(o){var r={};o.exports=function(o,e){var t=function(o){if(void 0===r[o]){var e=document.querySelector(o);if(window.HTMLIFrameElement&&e instanceof window.HTMLIFrameElement)try{e=e.contentDocument.head}catch(o){e=null}r[o]=e}return r[o]}(o);if(!t)throw Error("Couldn't find a style target. This probably means that the value for the 'insert' parameter is invalid.");t.appendChild(e)}},"./node_modules/style-loader/dist/runtime/insertStyleElement.js"(o){o.exports=function(o){var r=document.createElement("style");return o.setAttributes(r,o.attributes),o.insert(r,o.options),r}},"./node_modules/style-loader/dist/runtime/setAttributesWithoutAttributes.js"(o,r,e){o.exports=function(o){var r=e.nc;r&&o.setAttribute("nonce",r)}},"./node_modules/style-loader/dist/runtime/styleDomAPI.js"(o){o.exports=function(o){if("u"<typeof document)return{update:function(){},remove:function(){}};var r=o.insertStyleElement(o);return{update:function(e){var t,i,n;t="",e.supports&&(t+="@supports (".concat(e.supports,") {")),e.media&&(t+="@media ".concat(e.media," {")),(i=void 0!==e.layer)&&(t+="@layer".concat(e.layer.length>0?" ".concat(e.layer):""," {")),t+=e.css,i&&(t+="}"),e.media&&(t+="}"),e.supports&&(t+="}"),(n=e.sourceMap)&&"u">typeof btoa&&(t+="\n/*# sourceMappingURL=data:application/json;base64,".concat(btoa(unescape(encodeURIComponent(JSON.stringify(n))))," */")),o.styleTagTransform(t,r,o.options)},remove:function(){var o;null===(o=r).parentNode||o.parentNode.removeChild(o)}}}},"./node_modules/style-loader/dist/runtime/styleTagTransform.js"(o){o.exports=function(o,r){if(r.styleSheet)r.styleSheet.cssText=o;else{for(;r.firstChild;)r.removeChild(r.firstChild);r.appendChild(document.createTextNode(o))}}},"./style/index.js"(o,r,e){var t=e("./node_modules/style-loader/dist/runtime/injectStylesIntoStyleTag.js"),i=e.n(t),n=e("./node_modules/style-loader/dist/runtime/styleDomAPI.js"),a=e.n(n),l=e("./node_modules/style-loader/dist/runtime/insertBySelector.js"),p=e.n(l),s=e("./node_modules/style-loader/dist/runtime/setAttributesWithoutAttributes.js"),d=e.n(s),c=e("./node_modules/style-loader/dist/runtime/insertStyleElement.js"),m=e.n(c),g=e("./node_modules/style-loader/dist/runtime/styleTagTransform.js"),u=e.n(g),j=e("./node_modules/css-loader/dist/cjs.js!./style/base.css"),f={};f.styleTagTransform=u(),f.setAttributes=d(),f.insert=p().bind(null,"head"),f.domAPI=a(),f.insertStyleElement=m(),i()(j.A,f),j.A&&j.A.locals&&j.A.locals;var h=e("./node_modules/css-loader/dist/cjs.js!./style/history.css"),b={};b.styleTagTransform=u(),b.setAttributes=d(),b.insert=p().bind(null,"head"),b.domAPI=a(),b.insertStyleElement=m(),i()(h.A,b),h.A&&h.A.locals&&h.A.locals;var v=e("./node_modules/css-loader/dist/cjs.js!./style/comments.css"),x={};x.styleTagTransform=u(),x.setAttributes=d(),x.insert=p().bind(null,"head"),x.domAPI=a(),x.insertStyleElement=m(),i()(v.A,x),v.A&&v.A.locals&&v.A.locals;var y=e("./node_modules/css-loader/dist/cjs.js!./style/editor.css"),O={};O.styleTagTransform=u(),O.setAttributes=d(),O.insert=p().bind(null,"head"),O.domAPI=a(),O.insertStyleElement=m(),i()(y.A,O),y.A&&y.A.locals&&y.A.locals}}]);