import './base.css';
import './history.css';
import './comments.css';
