from brapped.cli import main

main()
