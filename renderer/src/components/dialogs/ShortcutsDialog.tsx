import { useApp } from '../../context';
import { SHORTCUTS } from '../trajectory/useTrajectoryKeys';
import { Dialog } from '../Dialog';

export function ShortcutsDialog() {
  const closeDialog = useApp((s) => s.closeDialog);
  return (
    <Dialog
      title="Keyboard shortcuts"
      testId="shortcuts-dialog"
      width={420}
      onClose={closeDialog}
      footer={
        <button type="button" className="btn" onClick={closeDialog}>
          Close
        </button>
      }
    >
      <p className="muted small">In the trajectory, whenever the focus is not in a text field or a terminal (click a step or press Esc first).</p>
      <table className="shortcuts">
        <tbody>
          {SHORTCUTS.map(([k, what]) => (
            <tr key={k}>
              <td>
                <kbd>{k}</kbd>
              </td>
              <td>{what}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Dialog>
  );
}
