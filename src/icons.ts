import { LabIcon } from '@jupyterlab/ui-components';

// A person beside a spark: who is here and what is building. `jp-icon3` lets the theme colour it.
const OMNIFORGE_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <circle cx="7" cy="7" r="3"/>
    <path d="M1 19c0-3.3 2.7-6 6-6s6 2.7 6 6v1H1z"/>
    <path d="M14.5 1 11 9h3l-1.5 6L19 6h-3.2L17.5 1z" transform="translate(4 0)"/>
  </g>
</svg>`;

export const omniforgeIcon = new LabIcon({
  name: 'jupyter_omniforge:icon',
  svgstr: OMNIFORGE_SVG
});
