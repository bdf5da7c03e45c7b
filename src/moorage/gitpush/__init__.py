"""``git push`` deploys: the apps' bare repositories with their pre-receive hook
(``repos.py``), and the hook itself (``hook.py``), which git runs on each push."""
