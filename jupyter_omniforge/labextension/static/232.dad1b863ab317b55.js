"use strict";(self.rspackChunkjupyter_omniforge=self.rspackChunkjupyter_omniforge||[]).push([[232],{"./node_modules/css-loader/dist/cjs.js!./style/base.css"(o,r,e){var n=e("./node_modules/css-loader/dist/runtime/noSourceMaps.js"),t=e.n(n),i=e("./node_modules/css-loader/dist/runtime/api.js"),a=(e.n(i))()(t());a.push([o.id,`/*
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
  overflow-y: auto;
  min-width: 240px;
}

.jp-OmniForge-sidebar-body {
  display: flex;
  flex-direction: column;
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
  align-items: center;
  gap: 6px;
}

.jp-OmniForge-run-toggle {
  padding: 0 2px;
  border: none;
  background: none;
  cursor: pointer;
  color: var(--jp-ui-font-color2);
}

.jp-OmniForge-run-name {
  flex: 1;
  min-width: 0;
  overflow: hidden;
  text-overflow: ellipsis;
  white-space: nowrap;
  font-family: var(--jp-code-font-family);
  color: var(--jp-ui-font-color0);
}

.jp-OmniForge-run-kind {
  color: var(--jp-ui-font-color2);
}

.jp-OmniForge-run-state {
  padding: 0 6px;
  border-radius: 8px;
  font-size: var(--jp-ui-font-size0);
  color: var(--jp-ui-inverse-font-color0);
  background-color: var(--jp-ui-font-color2);
}

.jp-OmniForge-run-state[data-state='running'] {
  background-color: var(--jp-brand-color1);
}

.jp-OmniForge-run-state[data-state='completed'] {
  background-color: var(--jp-success-color1);
}

.jp-OmniForge-run-state[data-state='failed'] {
  background-color: var(--jp-error-color1);
}

.jp-OmniForge-run-elapsed {
  font-size: var(--jp-ui-font-size0);
  color: var(--jp-ui-font-color2);
  font-variant-numeric: tabular-nums;
}

.jp-OmniForge-progress {
  height: 6px;
  margin: 4px 0 2px 18px;
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

.jp-OmniForge-run-message {
  margin-left: 18px;
  overflow: hidden;
  text-overflow: ellipsis;
  white-space: nowrap;
  font-size: var(--jp-ui-font-size0);
  color: var(--jp-ui-font-color1);
}

.jp-OmniForge-run-error {
  margin: 2px 0 0 18px;
  white-space: pre-wrap;
  word-break: break-word;
  font-size: var(--jp-ui-font-size0);
  color: var(--jp-error-color1);
}

.jp-OmniForge-run-log {
  max-height: 200px;
  overflow-y: auto;
  margin: 4px 0 0 18px;
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
  color: var(--jp-ui-font-color2);
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

/* Name labels always on, not only on hover: who is typing where is the point of the room. */
.jp-OmniForge-RoomEditor .cm-ySelectionInfo {
  opacity: 1;
  font-family: var(--jp-ui-font-family);
  color: var(--jp-ui-inverse-font-color0);
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
`,""]),e.d(r,{},{A:a})},"./node_modules/css-loader/dist/runtime/api.js"(o){o.exports=function(o){var r=[];return r.toString=function(){return this.map(function(r){var e="",n=void 0!==r[5];return r[4]&&(e+="@supports (".concat(r[4],") {")),r[2]&&(e+="@media ".concat(r[2]," {")),n&&(e+="@layer".concat(r[5].length>0?" ".concat(r[5]):""," {")),e+=o(r),n&&(e+="}"),r[2]&&(e+="}"),r[4]&&(e+="}"),e}).join("")},r.i=function(o,e,n,t,i){"string"==typeof o&&(o=[[null,o,void 0]]);var a={};if(n)for(var p=0;p<this.length;p++){var l=this[p][0];null!=l&&(a[l]=!0)}for(var s=0;s<o.length;s++){var d=[].concat(o[s]);n&&a[d[0]]||(void 0!==i&&(void 0===d[5]||(d[1]="@layer".concat(d[5].length>0?" ".concat(d[5]):""," {").concat(d[1],"}")),d[5]=i),e&&(d[2]&&(d[1]="@media ".concat(d[2]," {").concat(d[1],"}")),d[2]=e),t&&(d[4]?(d[1]="@supports (".concat(d[4],") {").concat(d[1],"}"),d[4]=t):d[4]="".concat(t)),r.push(d))}},r}},"./node_modules/css-loader/dist/runtime/noSourceMaps.js"(o){o.exports=function(o){return o[1]}},"./node_modules/style-loader/dist/runtime/injectStylesIntoStyleTag.js"(o){var r=[];function e(o){for(var e=-1,n=0;n<r.length;n++)if(r[n].identifier===o){e=n;break}return e}function n(o,n){for(var t={},i=[],a=0;a<o.length;a++){var p=o[a],l=n.base?p[0]+n.base:p[0],s=t[l]||0,d="".concat(l," ").concat(s);t[l]=s+1;var c=e(d),u={css:p[1],media:p[2],sourceMap:p[3],supports:p[4],layer:p[5]};if(-1!==c)r[c].references++,r[c].updater(u);else{var m=function(o,r){var e=r.domAPI(r);return e.update(o),function(r){r?(r.css!==o.css||r.media!==o.media||r.sourceMap!==o.sourceMap||r.supports!==o.supports||r.layer!==o.layer)&&e.update(o=r):e.remove()}}(u,n);n.byIndex=a,r.splice(a,0,{identifier:d,updater:m,references:1})}i.push(d)}return i}o.exports=function(o,t){var i=n(o=o||[],t=t||{});return function(o){o=o||[];for(var a=0;a<i.length;a++){var p=e(i[a]);r[p].references--}for(var l=n(o,t),s=0;s<i.length;s++){var d=e(i[s]);0===r[d].references&&(r[d].updater(),r.splice(d,1))}i=l}}},"./node_modules/style-loader/dist/runtime/insertBySelector.js"(o){var r={};o.exports=function(o,e){var n=function(o){if(void 0===r[o]){var e=document.querySelector(o);if(window.HTMLIFrameElement&&e instanceof window.HTMLIFrameElement)try{e=e.contentDocument.head}catch(o){e=null}r[o]=e}return r[o]}(o);if(!n)throw Error("Couldn't find a style target. This probably means that the value for the 'insert' parameter is invalid.");n.appendChild(e)}},"./node_modules/style-loader/dist/runtime/insertStyleElement.js"(o){o.exports=function(o){var r=document.createElement("style");return o.setAttributes(r,o.attributes),o.insert(r,o.options),r}},"./node_modules/style-loader/dist/runtime/setAttributesWithoutAttributes.js"(o,r,e){o.exports=function(o){var r=e.nc;r&&o.setAttribute("nonce",r)}},"./node_modules/style-loader/dist/runtime/styleDomAPI.js"(o){o.exports=function(o){if("u"<typeof document)return{update:function(){},remove:function(){}};var r=o.insertStyleElement(o);return{update:function(e){var n,t,i;n="",e.supports&&(n+="@supports (".concat(e.supports,") {")),e.media&&(n+="@media ".concat(e.media," {")),(t=void 0!==e.layer)&&(n+="@layer".concat(e.layer.length>0?" ".concat(e.layer):""," {")),n+=e.css,t&&(n+="}"),e.media&&(n+="}"),e.supports&&(n+="}"),(i=e.sourceMap)&&"u">typeof btoa&&(n+="\n/*# sourceMappingURL=data:application/json;base64,".concat(btoa(unescape(encodeURIComponent(JSON.stringify(i))))," */")),o.styleTagTransform(n,r,o.options)},remove:function(){var o;null===(o=r).parentNode||o.parentNode.removeChild(o)}}}},"./node_modules/style-loader/dist/runtime/styleTagTransform.js"(o){o.exports=function(o,r){if(r.styleSheet)r.styleSheet.cssText=o;else{for(;r.firstChild;)r.removeChild(r.firstChild);r.appendChild(document.createTextNode(o))}}},"./style/index.js"(o,r,e){var n=e("./node_modules/style-loader/dist/runtime/injectStylesIntoStyleTag.js"),t=e.n(n),i=e("./node_modules/style-loader/dist/runtime/styleDomAPI.js"),a=e.n(i),p=e("./node_modules/style-loader/dist/runtime/insertBySelector.js"),l=e.n(p),s=e("./node_modules/style-loader/dist/runtime/setAttributesWithoutAttributes.js"),d=e.n(s),c=e("./node_modules/style-loader/dist/runtime/insertStyleElement.js"),u=e.n(c),m=e("./node_modules/style-loader/dist/runtime/styleTagTransform.js"),f=e.n(m),g=e("./node_modules/css-loader/dist/cjs.js!./style/base.css"),j={};j.styleTagTransform=f(),j.setAttributes=d(),j.insert=l().bind(null,"head"),j.domAPI=a(),j.insertStyleElement=u(),t()(g.A,j),g.A&&g.A.locals&&g.A.locals}}]);