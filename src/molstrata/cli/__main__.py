from molstrata.cli import main

main()
