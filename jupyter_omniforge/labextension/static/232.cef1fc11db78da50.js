"use strict";(self.rspackChunkjupyter_omniforge=self.rspackChunkjupyter_omniforge||[]).push([[232],{"./node_modules/css-loader/dist/cjs.js!./style/base.css"(o,e,r){var n=r("./node_modules/css-loader/dist/runtime/noSourceMaps.js"),t=r.n(n),i=r("./node_modules/css-loader/dist/runtime/api.js"),a=(r.n(i))()(t());a.push([o.id,`/*
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
`,""]),r.d(e,{},{A:a})},"./node_modules/css-loader/dist/runtime/api.js"(o){o.exports=function(o){var e=[];return e.toString=function(){return this.map(function(e){var r="",n=void 0!==e[5];return e[4]&&(r+="@supports (".concat(e[4],") {")),e[2]&&(r+="@media ".concat(e[2]," {")),n&&(r+="@layer".concat(e[5].length>0?" ".concat(e[5]):""," {")),r+=o(e),n&&(r+="}"),e[2]&&(r+="}"),e[4]&&(r+="}"),r}).join("")},e.i=function(o,r,n,t,i){"string"==typeof o&&(o=[[null,o,void 0]]);var a={};if(n)for(var l=0;l<this.length;l++){var p=this[l][0];null!=p&&(a[p]=!0)}for(var s=0;s<o.length;s++){var d=[].concat(o[s]);n&&a[d[0]]||(void 0!==i&&(void 0===d[5]||(d[1]="@layer".concat(d[5].length>0?" ".concat(d[5]):""," {").concat(d[1],"}")),d[5]=i),r&&(d[2]&&(d[1]="@media ".concat(d[2]," {").concat(d[1],"}")),d[2]=r),t&&(d[4]?(d[1]="@supports (".concat(d[4],") {").concat(d[1],"}"),d[4]=t):d[4]="".concat(t)),e.push(d))}},e}},"./node_modules/css-loader/dist/runtime/noSourceMaps.js"(o){o.exports=function(o){return o[1]}},"./node_modules/style-loader/dist/runtime/injectStylesIntoStyleTag.js"(o){var e=[];function r(o){for(var r=-1,n=0;n<e.length;n++)if(e[n].identifier===o){r=n;break}return r}function n(o,n){for(var t={},i=[],a=0;a<o.length;a++){var l=o[a],p=n.base?l[0]+n.base:l[0],s=t[p]||0,d="".concat(p," ").concat(s);t[p]=s+1;var c=r(d),m={css:l[1],media:l[2],sourceMap:l[3],supports:l[4],layer:l[5]};if(-1!==c)e[c].references++,e[c].updater(m);else{var u=function(o,e){var r=e.domAPI(e);return r.update(o),function(e){e?(e.css!==o.css||e.media!==o.media||e.sourceMap!==o.sourceMap||e.supports!==o.supports||e.layer!==o.layer)&&r.update(o=e):r.remove()}}(m,n);n.byIndex=a,e.splice(a,0,{identifier:d,updater:u,references:1})}i.push(d)}return i}o.exports=function(o,t){var i=n(o=o||[],t=t||{});return function(o){o=o||[];for(var a=0;a<i.length;a++){var l=r(i[a]);e[l].references--}for(var p=n(o,t),s=0;s<i.length;s++){var d=r(i[s]);0===e[d].references&&(e[d].updater(),e.splice(d,1))}i=p}}},"./node_modules/style-loader/dist/runtime/insertBySelector.js"(o){var e={};o.exports=function(o,r){var n=function(o){if(void 0===e[o]){var r=document.querySelector(o);if(window.HTMLIFrameElement&&r instanceof window.HTMLIFrameElement)try{r=r.contentDocument.head}catch(o){r=null}e[o]=r}return e[o]}(o);if(!n)throw Error("Couldn't find a style target. This probably means that the value for the 'insert' parameter is invalid.");n.appendChild(r)}},"./node_modules/style-loader/dist/runtime/insertStyleElement.js"(o){o.exports=function(o){var e=document.createElement("style");return o.setAttributes(e,o.attributes),o.insert(e,o.options),e}},"./node_modules/style-loader/dist/runtime/setAttributesWithoutAttributes.js"(o,e,r){o.exports=function(o){var e=r.nc;e&&o.setAttribute("nonce",e)}},"./node_modules/style-loader/dist/runtime/styleDomAPI.js"(o){o.exports=function(o){if("u"<typeof document)return{update:function(){},remove:function(){}};var e=o.insertStyleElement(o);return{update:function(r){var n,t,i;n="",r.supports&&(n+="@supports (".concat(r.supports,") {")),r.media&&(n+="@media ".concat(r.media," {")),(t=void 0!==r.layer)&&(n+="@layer".concat(r.layer.length>0?" ".concat(r.layer):""," {")),n+=r.css,t&&(n+="}"),r.media&&(n+="}"),r.supports&&(n+="}"),(i=r.sourceMap)&&"u">typeof btoa&&(n+="\n/*# sourceMappingURL=data:application/json;base64,".concat(btoa(unescape(encodeURIComponent(JSON.stringify(i))))," */")),o.styleTagTransform(n,e,o.options)},remove:function(){var o;null===(o=e).parentNode||o.parentNode.removeChild(o)}}}},"./node_modules/style-loader/dist/runtime/styleTagTransform.js"(o){o.exports=function(o,e){if(e.styleSheet)e.styleSheet.cssText=o;else{for(;e.firstChild;)e.removeChild(e.firstChild);e.appendChild(document.createTextNode(o))}}},"./style/index.js"(o,e,r){var n=r("./node_modules/style-loader/dist/runtime/injectStylesIntoStyleTag.js"),t=r.n(n),i=r("./node_modules/style-loader/dist/runtime/styleDomAPI.js"),a=r.n(i),l=r("./node_modules/style-loader/dist/runtime/insertBySelector.js"),p=r.n(l),s=r("./node_modules/style-loader/dist/runtime/setAttributesWithoutAttributes.js"),d=r.n(s),c=r("./node_modules/style-loader/dist/runtime/insertStyleElement.js"),m=r.n(c),u=r("./node_modules/style-loader/dist/runtime/styleTagTransform.js"),g=r.n(u),f=r("./node_modules/css-loader/dist/cjs.js!./style/base.css"),j={};j.styleTagTransform=g(),j.setAttributes=d(),j.insert=p().bind(null,"head"),j.domAPI=a(),j.insertStyleElement=m(),t()(f.A,j),f.A&&f.A.locals&&f.A.locals}}]);