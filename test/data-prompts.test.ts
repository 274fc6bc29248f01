// Prompt templates: word for word the reference text (copied from /work/shared/VISUAL-RFT.md), plus the Qwen2.5-VL variants.
import t from 'tap'
import { classificationPrompt, detectionPrompt, detectionSolution, groundingPrompt, groundingSolution } from '../lib/prompts/index.js'

const DETECTION = `Detect all objects belonging to the category 'fire hydrant' in the image, and provide the bounding boxes (between 0 and 1000, integer) and confidence (between 0 and 1, with two decimal places).
If no object belonging to the category 'fire hydrant' in the image, return 'No Objects'.
Output the thinking process in <think> </think> and final answer in <answer> </answer> tags.The output answer format should be as follows:
<think> ... </think> <answer>[{'Position': [x1, y1, x2, y2], 'Confidence': number}, ...]</answer>
Please strictly follow the format.`

const AIRCRAFT = `This is an image containing an aircraft. Please identify the model of the aircraft based on the image.
Output the thinking process in <think> </think> and final answer in <answer> </answer> tags.The output answer format should be as follows:
<think> ... </think> <answer>species name</answer>
Please strictly follow the format.`

t.test('detection prompt', async (t) => {
  t.equal(detectionPrompt('fire hydrant'), DETECTION)
  t.equal(detectionPrompt('fire hydrant', 'qwen2.5-vl'), DETECTION.replace('(between 0 and 1000, integer)', '(in absolute pixel coordinates of the image, integer)'))
})

t.test('classification prompts per data set', async (t) => {
  t.equal(classificationPrompt('aircraft'), AIRCRAFT)
  t.equal(classificationPrompt('flowers'), AIRCRAFT.replace('an aircraft. Please identify the model of the aircraft', 'a plant. Please identify the species of the plant'))
  t.equal(classificationPrompt('pets'), AIRCRAFT.replace('an aircraft. Please identify the model of the aircraft', 'a pet. Please identify the breed of the pet'))
  t.equal(classificationPrompt('cars'), AIRCRAFT.replace('an aircraft. Please identify the model of the aircraft', 'a car. Please identify the model of the car'))
  t.match(classificationPrompt({ noun: 'bird', attribute: 'species' }), /^This is an image containing a bird\. Please identify the species of the bird/)
})

t.test('grounding prompt and solutions', async (t) => {
  t.equal(groundingPrompt('Which object keeps food cold?'),
    'Which object keeps food cold? Output the thinking process in <think> </think> and your grouding box. Following "<think> thinking process </think>\n<answer>(x1,y1),(x2,y2)</answer>)" format.')
  t.ok(groundingPrompt('q', 'qwen2.5-vl').endsWith(' The box is in absolute pixel coordinates of the image.'))
  t.equal(detectionSolution([[1, 364, 98, 649]]), "<answer>[{'Position': [1, 364, 98, 649], 'Confidence': 1}]</answer>")
  t.equal(detectionSolution([]), '<answer>No Objects</answer>')
  t.equal(groundingSolution([1, 2, 3, 4]), '<answer>(1,2),(3,4)</answer>')
})
