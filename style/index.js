import './base.css';
import './history.css';
import './comments.css';
import './editor.css';
