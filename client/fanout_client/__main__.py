"""`python -m fanout_client` runs the `fanout` command."""

from fanout_client.cli import main

raise SystemExit(main())
