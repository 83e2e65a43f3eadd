"""`python -m tokcodec`: the same command as `tokcodec`."""

from tokcodec_cli.main import main

main()
