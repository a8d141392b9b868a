"use strict";(self.rspackChunkjupyter_omniforge=self.rspackChunkjupyter_omniforge||[]).push([[232],{"./node_modules/css-loader/dist/cjs.js!./style/base.css"(o,e,r){var t=r("./node_modules/css-loader/dist/runtime/noSourceMaps.js"),n=r.n(t),i=r("./node_modules/css-loader/dist/runtime/api.js"),a=(r.n(i))()(n());a.push([o.id,`/*
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
`,""]),r.d(e,{},{A:a})},"./node_modules/css-loader/dist/runtime/api.js"(o){o.exports=function(o){var e=[];return e.toString=function(){return this.map(function(e){var r="",t=void 0!==e[5];return e[4]&&(r+="@supports (".concat(e[4],") {")),e[2]&&(r+="@media ".concat(e[2]," {")),t&&(r+="@layer".concat(e[5].length>0?" ".concat(e[5]):""," {")),r+=o(e),t&&(r+="}"),e[2]&&(r+="}"),e[4]&&(r+="}"),r}).join("")},e.i=function(o,r,t,n,i){"string"==typeof o&&(o=[[null,o,void 0]]);var a={};if(t)for(var s=0;s<this.length;s++){var l=this[s][0];null!=l&&(a[l]=!0)}for(var p=0;p<o.length;p++){var d=[].concat(o[p]);t&&a[d[0]]||(void 0!==i&&(void 0===d[5]||(d[1]="@layer".concat(d[5].length>0?" ".concat(d[5]):""," {").concat(d[1],"}")),d[5]=i),r&&(d[2]&&(d[1]="@media ".concat(d[2]," {").concat(d[1],"}")),d[2]=r),n&&(d[4]?(d[1]="@supports (".concat(d[4],") {").concat(d[1],"}"),d[4]=n):d[4]="".concat(n)),e.push(d))}},e}},"./node_modules/css-loader/dist/runtime/noSourceMaps.js"(o){o.exports=function(o){return o[1]}},"./node_modules/style-loader/dist/runtime/injectStylesIntoStyleTag.js"(o){var e=[];function r(o){for(var r=-1,t=0;t<e.length;t++)if(e[t].identifier===o){r=t;break}return r}function t(o,t){for(var n={},i=[],a=0;a<o.length;a++){var s=o[a],l=t.base?s[0]+t.base:s[0],p=n[l]||0,d="".concat(l," ").concat(p);n[l]=p+1;var c=r(d),u={css:s[1],media:s[2],sourceMap:s[3],supports:s[4],layer:s[5]};if(-1!==c)e[c].references++,e[c].updater(u);else{var m=function(o,e){var r=e.domAPI(e);return r.update(o),function(e){e?(e.css!==o.css||e.media!==o.media||e.sourceMap!==o.sourceMap||e.supports!==o.supports||e.layer!==o.layer)&&r.update(o=e):r.remove()}}(u,t);t.byIndex=a,e.splice(a,0,{identifier:d,updater:m,references:1})}i.push(d)}return i}o.exports=function(o,n){var i=t(o=o||[],n=n||{});return function(o){o=o||[];for(var a=0;a<i.length;a++){var s=r(i[a]);e[s].references--}for(var l=t(o,n),p=0;p<i.length;p++){var d=r(i[p]);0===e[d].references&&(e[d].updater(),e.splice(d,1))}i=l}}},"./node_modules/style-loader/dist/runtime/insertBySelector.js"(o){var e={};o.exports=function(o,r){var t=function(o){if(void 0===e[o]){var r=document.querySelector(o);if(window.HTMLIFrameElement&&r instanceof window.HTMLIFrameElement)try{r=r.contentDocument.head}catch(o){r=null}e[o]=r}return e[o]}(o);if(!t)throw Error("Couldn't find a style target. This probably means that the value for the 'insert' parameter is invalid.");t.appendChild(r)}},"./node_modules/style-loader/dist/runtime/insertStyleElement.js"(o){o.exports=function(o){var e=document.createElement("style");return o.setAttributes(e,o.attributes),o.insert(e,o.options),e}},"./node_modules/style-loader/dist/runtime/setAttributesWithoutAttributes.js"(o,e,r){o.exports=function(o){var e=r.nc;e&&o.setAttribute("nonce",e)}},"./node_modules/style-loader/dist/runtime/styleDomAPI.js"(o){o.exports=function(o){if("u"<typeof document)return{update:function(){},remove:function(){}};var e=o.insertStyleElement(o);return{update:function(r){var t,n,i;t="",r.supports&&(t+="@supports (".concat(r.supports,") {")),r.media&&(t+="@media ".concat(r.media," {")),(n=void 0!==r.layer)&&(t+="@layer".concat(r.layer.length>0?" ".concat(r.layer):""," {")),t+=r.css,n&&(t+="}"),r.media&&(t+="}"),r.supports&&(t+="}"),(i=r.sourceMap)&&"u">typeof btoa&&(t+="\n/*# sourceMappingURL=data:application/json;base64,".concat(btoa(unescape(encodeURIComponent(JSON.stringify(i))))," */")),o.styleTagTransform(t,e,o.options)},remove:function(){var o;null===(o=e).parentNode||o.parentNode.removeChild(o)}}}},"./node_modules/style-loader/dist/runtime/styleTagTransform.js"(o){o.exports=function(o,e){if(e.styleSheet)e.styleSheet.cssText=o;else{for(;e.firstChild;)e.removeChild(e.firstChild);e.appendChild(document.createTextNode(o))}}},"./style/index.js"(o,e,r){var t=r("./node_modules/style-loader/dist/runtime/injectStylesIntoStyleTag.js"),n=r.n(t),i=r("./node_modules/style-loader/dist/runtime/styleDomAPI.js"),a=r.n(i),s=r("./node_modules/style-loader/dist/runtime/insertBySelector.js"),l=r.n(s),p=r("./node_modules/style-loader/dist/runtime/setAttributesWithoutAttributes.js"),d=r.n(p),c=r("./node_modules/style-loader/dist/runtime/insertStyleElement.js"),u=r.n(c),m=r("./node_modules/style-loader/dist/runtime/styleTagTransform.js"),f=r.n(m),g=r("./node_modules/css-loader/dist/cjs.js!./style/base.css"),j={};j.styleTagTransform=f(),j.setAttributes=d(),j.insert=l().bind(null,"head"),j.domAPI=a(),j.insertStyleElement=u(),n()(g.A,j),g.A&&g.A.locals&&g.A.locals}}]);