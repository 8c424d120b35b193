"""`python -m bot` runs the command line."""

from bot.launch import main

raise SystemExit(main())
