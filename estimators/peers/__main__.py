"""``python -m estimators.peers LIBRARY``: a peer worker process (``estimators.peers.worker.serve``)."""
import sys

from .worker import serve

serve(sys.argv[1])
