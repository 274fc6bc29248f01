"""Ridge classifiers on the features demo-detection-linear-probe.mjs wrote: held-out accuracy of the cell (Y)
and the class (C) from the object's token (X) and from the mean image token (XM). Needs numpy."""
import json, sys
import numpy as np
d = json.load(open(sys.argv[1] if len(sys.argv) > 1 else '/tmp/linear-probe.json'))
for lab in ['Y', 'C']:
    Y = np.array(d[lab]); K = Y.max() + 1
    for name in ['X', 'XM']:
        X = np.array(d[name]); n = len(Y); tr = np.arange(n) < n * 2 // 3
        T = np.eye(K)[Y]
        accs = []
        for lam in [0.01, 1, 100]:
            W = np.linalg.solve(X[tr].T @ X[tr] + lam * np.eye(X.shape[1]), X[tr].T @ T[tr])
            accs.append(float(((X[~tr] @ W).argmax(1) == Y[~tr]).mean()))
        print({'Y': 'cell', 'C': 'class'}[lab], 'from', {'X': "the object's token", 'XM': 'the mean image token'}[name],
              'held-out accuracy at ridge lambda 0.01 / 1 / 100:', ' / '.join(f'{a:.2f}' for a in accs))
